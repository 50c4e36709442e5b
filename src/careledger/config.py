"""Node settings: defaults, then the home's `config.toml`, then `CARELEDGER_*`, then flags.

The home directory itself is chosen before any of this (flag `--home`, env
`CARELEDGER_HOME`, default `~/.careledger`), since the config file lives inside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from careledger.errors import ConfigError
from careledger.files import write_atomically

# The wallet the node itself signs with.
NODE_WALLET = "node"


@dataclass(frozen=True, slots=True)
class Home:
    """The files of one node: config, keys, database, chain state, deployments."""

    path: Path

    @classmethod
    def resolve(cls, flag: Path | None = None) -> Home:
        """The home: `flag`, else `$CARELEDGER_HOME`, else `~/.careledger`; made absolute."""
        raw = flag or os.environ.get("CARELEDGER_HOME") or Path.home() / ".careledger"
        return cls(Path(raw).expanduser().resolve())

    @property
    def config_file(self) -> Path:
        """`config.toml`."""
        return self.path / "config.toml"

    @property
    def keystore_dir(self) -> Path:
        """Where the wallets' keystores are."""
        return self.path / "keystore"

    @property
    def db_file(self) -> Path:
        """The SQLite database (when no other URL is configured)."""
        return self.path / "careledger.db"

    @property
    def vault_file(self) -> Path:
        """The vault key (a keystore v3 under the node wallet's passphrase) every secret below is sealed under."""
        return self.path / "vault.json"

    @property
    def index_key_file(self) -> Path:
        """The blind index's key (search tokens and categories), kept out of the database."""
        return self.path / "index.key"

    @property
    def custodial_dir(self) -> Path:
        """Keys of the custodial patients (sealed under `custodial.kek`)."""
        return self.path / "custodial"

    @property
    def custodial_kek_file(self) -> Path:
        """The key-encryption key of the custodial patients' keys."""
        return self.path / "custodial.kek"

    @property
    def audit_key_file(self) -> Path:
        """The key the audit log's event text is sealed under, kept out of the database."""
        return self.path / "audit.key"

    @property
    def study_key_file(self) -> Path:
        """The secret each study's pseudonyms and date shifts are keyed from (one key per study, derived)."""
        return self.path / "study.key"

    @property
    def readings_key_file(self) -> Path:
        """The key device readings are sealed under while they wait in the journal."""
        return self.path / "readings.key"

    @property
    def api_key_file(self) -> Path:
        """The secret the API's access tokens are signed with (HS256)."""
        return self.path / "api.key"

    @property
    def oidc_key_file(self) -> Path:
        """The secret the SMART ID tokens' signing key (P-256) is derived from."""
        return self.path / "oidc.key"

    @property
    def secret_files(self) -> tuple[Path, ...]:
        """Every random secret kept in the home, each sealed under the vault (`identity.Vault`) and made when
        it is first opened: what the parent of `serve --workers N` opens before its workers start, so that they
        share one of each, never race."""
        return (
            self.index_key_file,
            self.custodial_kek_file,
            self.audit_key_file,
            self.study_key_file,
            self.readings_key_file,
            self.api_key_file,
            self.oidc_key_file,
        )

    def require_private(self) -> None:
        """`ConfigError` if others may read the home: it holds the database, keys and blobs."""
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(
                f"{self.path} can be read by other users (mode {mode:o}): run `chmod 700 {self.path}` first"
            )

    @property
    def chain_dir(self) -> Path:
        """Where the managed anvil chain keeps its state."""
        return self.path / "chain"

    @property
    def blobs_dir(self) -> Path:
        """The content-addressed blob store of encrypted records."""
        return self.path / "blobs"

    @property
    def deployments_dir(self) -> Path:
        """Where the contract deployments per chain are recorded."""
        return self.path / "deployments"

    def is_initialised(self) -> bool:
        """Whether `careledger init` finished here."""
        return self.config_file.is_file()

    def require(self) -> None:
        """Raise a `ConfigError` that says how to fix it if the home was never set up."""
        if not self.is_initialised():
            raise ConfigError(f"no CareLedger home at {self.path}; run `careledger init` (or pass --home)")


class RetentionRule(BaseModel):
    """A retention rule of one category: its records are kept `years` after their last change, whatever their
    patient asks; an erasure refuses them, naming the rule (`[erasure.retention.billing]`, docs/erasure.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    years: int = Field(ge=1, le=100)


class ErasureSettings(BaseModel):
    """What erasure keeps: `retention`, a rule per record category (`billing`, `mental-health`, …)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retention: dict[str, RetentionRule] = {}


class Settings(BaseSettings):
    """What a node can be told; every field can be set in config.toml as `name = value`."""

    model_config = SettingsConfigDict(env_prefix="CARELEDGER_", extra="forbid")

    chain: str = "anvil"
    """`memory`, `anvil` (a chain the node runs itself) or an http(s) JSON-RPC URL."""
    db: str | None = None
    """SQLAlchemy URL; default: SQLite `careledger.db` in the home."""
    blob_store: Literal["files", "database"] = "files"
    """Where record blobs are kept: `files` under the home, or `database` (every worker and host reaches them)."""
    anvil_bin: Path | None = None
    """The anvil binary; default: the project's npm install, then PATH."""
    anvil_chain_id: int = 31337
    anvil_state_interval: int = 2
    """Seconds between anvil's state dumps, bounding what a killed chain can lose."""
    anchor_batch_size: int = Field(default=1024, ge=1, le=1024)
    """Anchor as soon as this many record commitments wait."""
    anchor_max_wait: float = Field(default=30.0, ge=0)
    """…or as soon as the oldest has waited this many seconds."""
    anchor_in_background: bool = True
    """`serve` anchors when due; false leaves it to `record anchor` / `audit anchor` run elsewhere."""
    open_requests_per_minute: int = Field(default=240, ge=1)
    """Requests per minute one client address may send to `/auth/*` and `/exchange/*` (half at once)."""
    forwarded_allow_ips: list[str] = []
    """Addresses of the reverse proxies whose `X-Forwarded-For`/`-Proto` are believed; empty: none, and the
    client is the address that connected (a header anyone can write never picks its own rate limit)."""
    light_kdf: bool = False
    """Weaker scrypt for keystores created by this node: for test and demo homes only."""
    mqtt_broker: str = ""
    """`host[:port]` of the MQTT broker `serve` takes device readings from (e.g. 127.0.0.1:1883); empty: none."""
    reading_summary_seconds: float = Field(default=60.0, ge=0)
    """Device readings become one Observation (SampledData) per device, code and this many seconds; 0: one each."""
    reading_ranges: dict[str, tuple[float, float]] = {}
    """Plausible device values by LOINC code, over the defaults (docs/devices.md): `{"8867-4" = [20, 250]}`."""
    alert_webhooks: list[str] = []
    """URLs `serve` POSTs each device alert to (JSON), besides streaming it at `/alerts/stream`."""
    ice_servers: list[Annotated[str, Field(pattern=r"^(stuns?|turns?):[^\s]+$", max_length=500)]] = []
    """STUN and TURN URLs a visit room's browsers use (`stun:host:3478`, `turns:host:5349`); TURN needs a secret."""
    turn_secret: str = ""
    """coturn's `static-auth-secret`: browsers get TURN credentials made from it, which expire (docs/telehealth.md)."""
    log_format: Literal["text", "json"] = "text"
    """`serve`'s log on stderr: `text` lines, or one JSON object a line for a log collector (docs/monitoring.md)."""
    metrics_token: str = ""
    """A bearer token `/metrics` asks of a scraper; empty: see `metrics_port`, else loopback callers only."""
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """`/metrics` (and the probes) is served on this port only, not on the API's port."""
    metrics_host: str = "127.0.0.1"
    """The address `metrics_port` listens on (loopback unless told: the port answers without a token)."""
    ready_timeout: float = Field(default=2.0, gt=0, le=30)
    """Seconds `/readyz` (and a scrape's database gauges) wait for the database, chain and blob store at most."""
    erasure: ErasureSettings = ErasureSettings()
    """Retention rules erasure honours, per record category (docs/erasure.md)."""
    timezone: str = "UTC"
    """The IANA time zone the portal shows dates and times in (`Europe/Paris`)."""
    organisation: str = Field(default="", max_length=200)
    """The organisation that runs this node: the controller a compliance report names (docs/compliance.md)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        """A zone the portal can show times in, refused at start rather than on the first page."""
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}: an IANA name such as Europe/Paris, or UTC") from None
        return name

    def db_url(self, home: Home) -> str:
        """The database URL: the configured one, else the home's SQLite file."""
        return self.db or f"sqlite:///{home.db_file}"


def load_settings(home: Home, **flags: Any) -> Settings:
    """Settings for `home`; flags that are None were not given and do not override."""
    given = {name: value for name, value in flags.items() if value is not None}

    class _HomeSettings(Settings):
        model_config = SettingsConfigDict(toml_file=home.config_file)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - signature set by pydantic-settings
            file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)

    try:
        loaded = _HomeSettings(**given)
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"bad settings ({home.config_file}, CARELEDGER_*, flags): {problems}") from None
    except ValueError as exc:  # a TOML syntax error
        raise ConfigError(f"cannot read {home.config_file}: {exc}") from None
    return Settings.model_construct(**dict(loaded))  # nested settings ([erasure]) stay models


def write_config(home: Home, settings: Settings) -> None:
    """Write the settings that differ from the defaults, with a header saying how to edit; readable by the node's
    user alone (0600), as the home is: it may name a database URL with its password."""
    changed = settings.model_dump(exclude_defaults=True, mode="json")
    header = (
        "# CareLedger node settings. CARELEDGER_<NAME> environment variables and\n"
        "# command-line flags override what is here. Fields: see docs/configuration.md.\n"
    )
    home.config_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(home.config_file, (header + tomli_w.dumps(changed)).encode(), mode=0o600)
