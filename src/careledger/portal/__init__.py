"""The portal: patients and staff in a browser, served by `careledger serve` under `/portal`.

Server-rendered pages (Jinja, htmx), a wallet in the page (ethers) or the browser's own,
charts (Chart.js); every script and style from this server (vendored from npm), none
inline. Every page reads and writes through the guarded repository, as the API does.
"""

from careledger.portal._app import PORTAL_ASSETS, add_portal
from careledger.portal._pages import outside_page, page_headers, refusal_page
from careledger.portal._session import SESSION_COOKIE, check_origin
from careledger.portal._views import person_name

__all__ = [
    "PORTAL_ASSETS",
    "SESSION_COOKIE",
    "add_portal",
    "check_origin",
    "outside_page",
    "page_headers",
    "person_name",
    "refusal_page",
]
