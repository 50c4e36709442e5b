// CareLedger portal: the wallet (the browser's own, or one kept in this page), signing in, claiming,
// signing consents, charts. Loaded as a file: the Content-Security-Policy allows no inline script.
// The node's SMART authorization page (/auth/authorize) signs in with this same script.
"use strict";

const WALLET_KEY = "careledger.wallet"; // keystore v3 JSON, encrypted under the patient's passphrase
const encoder = new TextEncoder();

function status(text) {
  const element = document.getElementById("status");
  if (element) element.textContent = text;
}

function failed(error) {
  const reason = (error && (error.shortMessage || error.message)) || String(error);
  status(`That did not work: ${reason}`);
}

// The wallet ----------------------------------------------------------------------------------

function keptKeystore() {
  return window.localStorage.getItem(WALLET_KEY);
}

async function keptWallet(passphrase) {
  const keystore = keptKeystore();
  if (!keystore) throw new Error("no wallet is kept in this browser");
  status("Unlocking the wallet…");
  return ethers.Wallet.fromEncryptedJson(keystore, passphrase);
}

async function newWallet(passphrase) {
  const wallet = ethers.Wallet.createRandom();
  status("Making your wallet (this takes a few seconds)…");
  window.localStorage.setItem(WALLET_KEY, await wallet.encrypt(passphrase));
  return wallet;
}

// A signer: the wallet kept here (unlocked with the passphrase on the page) or the browser's (EIP-1193).
async function signer() {
  if (keptKeystore()) {
    const passphrase = document.getElementById("passphrase");
    const section = document.getElementById("unlock");
    if (section) section.hidden = false;
    if (!passphrase || !passphrase.value) {
      if (passphrase) passphrase.focus();
      throw new Error("enter your wallet's passphrase to sign");
    }
    const wallet = await keptWallet(passphrase.value);
    return {
      address: wallet.address,
      signMessage: (message) => wallet.signMessage(message),
      signTypedData: (typed) => {
        const types = { ...typed.types };
        delete types.EIP712Domain;
        return wallet.signTypedData(typed.domain, types, typed.message);
      },
    };
  }
  return browserWallet();
}

async function browserWallet() {
  if (!window.ethereum) throw new Error("no wallet: claim your records first, or use a browser with a wallet");
  const [address] = await window.ethereum.request({ method: "eth_requestAccounts" });
  return {
    address: ethers.getAddress(address),
    signMessage: (message) =>
      window.ethereum.request({ method: "personal_sign", params: [ethers.hexlify(encoder.encode(message)), address] }),
    signTypedData: (typed) =>
      window.ethereum.request({ method: "eth_signTypedData_v4", params: [address, JSON.stringify(typed)] }),
  };
}

// The encryption key the node seals her records to, derived from the wallet's key exactly as
// `PrivateKey.derive` does (HKDF-SHA256, then X25519), so the CLI derives the same from the keystore.
async function encryptionKeyHex(privateKey) {
  const base = await crypto.subtle.importKey("raw", ethers.getBytes(privateKey), "HKDF", false, ["deriveBits"]);
  const seed = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: encoder.encode("careledger"), info: encoder.encode("careledger/encryption-key/x25519/v1") },
    base,
    256,
  );
  const pkcs8 = ethers.concat(["0x302e020100300506032b656e04220420", new Uint8Array(seed)]);
  const key = await crypto.subtle.importKey("pkcs8", ethers.getBytes(pkcs8), { name: "X25519" }, true, ["deriveBits"]);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  const raw = Uint8Array.from(atob(jwk.x.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  return "01" + ethers.hexlify(raw).slice(2); // suite 1: X25519
}

// Sign-In with Ethereum (EIP-4361) --------------------------------------------------------------

async function siweMessage(form, address) {
  const found = await (await fetch("/auth/nonce")).json();
  return [
    `${form.dataset.domain} wants you to sign in with your Ethereum account:`,
    address,
    "",
    form.dataset.statement || "Sign in to the CareLedger portal", // an app's authorization says what it is for
    "",
    `URI: ${window.location.origin}`,
    "Version: 1",
    `Chain ID: ${form.dataset.chain}`,
    `Nonce: ${found.nonce}`,
    `Issued At: ${new Date().toISOString().replace(/\.\d{3}Z$/, "Z")}`,
  ].join("\n");
}

async function signIn(form, wallet) {
  const message = await siweMessage(form, wallet.address);
  status("Waiting for the wallet's signature…");
  form.elements.signature.value = await wallet.signMessage(message);
  form.elements.message.value = message;
  status("Signing in…");
  form.submit();
}

function setUpSignIn(form) {
  const kept = document.getElementById("kept-wallet");
  const keystore = keptKeystore();
  if (keystore) {
    kept.hidden = false;
    kept.querySelector("[data-wallet-address]").textContent = ethers.getAddress("0x" + JSON.parse(keystore).address);
  }
  document.getElementById("sign-kept").addEventListener("click", () => {
    keptWallet(document.getElementById("passphrase").value).then((wallet) => signIn(form, wallet)).catch(failed);
  });
  document.getElementById("sign-browser").addEventListener("click", () => {
    browserWallet().then((wallet) => signIn(form, wallet)).catch(failed);
  });
  document.getElementById("export-wallet").addEventListener("click", () => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([keptKeystore()], { type: "application/json" }));
    link.download = "careledger-wallet.json";
    link.click();
  });
}

function setUpClaim(form) {
  const code = new URLSearchParams(window.location.hash.slice(1)).get("code");
  if (code) form.elements.code.value = code;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const passphrase = document.getElementById("new-passphrase").value;
    if (passphrase !== document.getElementById("new-passphrase-again").value) return status("The two passphrases differ.");
    const wallet = keptKeystore() ? keptWallet(passphrase) : newWallet(passphrase);
    wallet
      .then(async (held) => {
        form.elements.encryption_key.value = await encryptionKeyHex(held.privateKey);
        return signIn(form, held);
      })
      .catch(failed);
  });
}

// Consents: the node prepares the typed data, the wallet signs it, the node submits it -------------

function post(action, fields) {
  const form = document.createElement("form");
  form.method = "post";
  form.action = action;
  for (const [name, value] of Object.entries(fields)) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
}

async function prepared(action, body, csrf) {
  const response = await fetch(action, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf, Accept: "application/json" },
    body,
  });
  if (!response.ok) throw new Error((await response.text()).replace(/<[^>]+>/g, ""));
  return response.json();
}

// The node prepares one typed data, or several by name (joining a study signs a consent and a
// participation): each is signed in turn and posted as typed[_name] and signature[_name], to the
// form's action or where the node says (`then`: booking posts to the visit it held), with any fields
// the node has the page post back as they are (`echo`: an erasure's request, whose scope the wallet
// signs by its hash).
async function signAndPost(prepareAction, body, submitAction, csrf) {
  const wallet = await signer();
  const { then, echo, ...typed } = await prepared(prepareAction, body, csrf);
  const parts = typed.primaryType ? { "": typed } : typed;
  const fields = { ...echo, csrf };
  for (const [name, data] of Object.entries(parts)) {
    status(`Waiting for the wallet's signature${name ? ` (${name})` : ""}…`);
    const suffix = name ? `_${name}` : "";
    fields[`typed${suffix}`] = JSON.stringify(data);
    fields[`signature${suffix}`] = await wallet.signTypedData(data);
  }
  status("Submitting (the node pays the gas)…");
  post(then || submitAction, fields);
}

// A form whose submission the wallet signs: its fields go to `data-prepare`, the signature to its action.
function setUpSigned(form) {
  const csrf = form.elements.csrf.value;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = new URLSearchParams(new FormData(form));
    signAndPost(form.dataset.prepare, body, form.getAttribute("action"), csrf).catch(failed);
  });
}

function setUpRevokes(csrf) {
  for (const button of document.querySelectorAll("[data-revoke]")) {
    button.addEventListener("click", () => {
      const grant = button.dataset.revoke;
      const body = new URLSearchParams({ csrf });
      signAndPost(`/portal/consents/${grant}/prepare-revoke`, body, `/portal/consents/${grant}/revoke`, csrf).catch(failed);
    });
  }
}

// A change her own wallet sends as a transaction, paying its gas (break-glass's switch): the node prepares it
// (`data-send`), the browser's wallet (EIP-1193) sends it, and the page shows the chain's answer once mined.
async function sendPrepared(form) {
  if (!window.ethereum) throw new Error("this change is a transaction your browser's wallet sends; this browser has none");
  const body = new URLSearchParams(new FormData(form));
  const tx = await prepared(form.dataset.send, body, form.elements.csrf.value);
  const [from] = await window.ethereum.request({ method: "eth_requestAccounts" });
  const chainId = ethers.toQuantity(tx.chainId);
  if ((await window.ethereum.request({ method: "eth_chainId" })) !== chainId) {
    await window.ethereum.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  }
  status("Confirm the change in your wallet…");
  const hash = await window.ethereum.request({ method: "eth_sendTransaction", params: [{ from, to: tx.to, data: tx.data }] });
  status("Waiting for the chain…");
  let receipt = null;
  while (!(receipt = await window.ethereum.request({ method: "eth_getTransactionReceipt", params: [hash] }))) {
    await new Promise((resume) => setTimeout(resume, 1000));
  }
  if (receipt.status !== "0x1") throw new Error("the chain refused the change");
  window.location.reload();
}

function setUpSent(form) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendPrepared(form).catch(failed);
  });
}

// The node's notification stream: unread messages beside "Messages", reminders of visits ------

function followEvents(badge, notice) {
  const events = new EventSource("/portal/events");
  if (badge) followUnread(events, badge);
  if (notice) followReminders(events, notice);
  events.addEventListener("end", () => events.close()); // signed out: the stream is over
  window.addEventListener("pagehide", () => events.close());
}

function followUnread(events, badge) {
  events.addEventListener("message", (event) => {
    const { unread } = JSON.parse(event.data);
    if (typeof unread !== "number") return;
    badge.querySelector("[data-count]").textContent = String(unread);
    badge.hidden = unread === 0;
  });
}

// A visit coming soon (the node reminds her a day and a quarter of an hour before): the soonest one told in the
// polite live region, its start as people read it, in her own time zone, with the way to her visits.
function followReminders(events, notice) {
  let soonest = null;
  events.addEventListener("reminder", (event) => {
    const when = new Date(JSON.parse(event.data).start);
    if (Number.isNaN(when.getTime()) || when < new Date() || (soonest && soonest <= when)) return;
    soonest = when;
    const time = when.toLocaleString(undefined, { weekday: "long", hour: "numeric", minute: "2-digit" });
    const text = document.createElement("p");
    const link = document.createElement("a");
    link.href = notice.dataset.reminder;
    link.textContent = "see your visits";
    text.append(`A visit of yours starts ${time}: `, link, ".");
    notice.replaceChildren(text);
  });
}

// Charts --------------------------------------------------------------------------------------

function drawCharts() {
  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    const points = JSON.parse(document.getElementById(canvas.dataset.chart).textContent);
    new Chart(canvas, {
      type: "line",
      data: {
        labels: points.map((p) => p.x.slice(0, 16).replace("T", " ")),
        datasets: [{ label: canvas.dataset.label, data: points.map((p) => p.y), borderColor: "#1d4ed8", tension: 0.2 }],
      },
      options: { animation: false, responsive: true, plugins: { legend: { display: false } } },
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const signin = document.getElementById("signin");
  if (signin) setUpSignIn(signin);
  const claim = document.getElementById("claim");
  if (claim) setUpClaim(claim);
  const unlock = document.getElementById("unlock"); // the passphrase field, where the kept wallet signs
  if (unlock && keptKeystore()) unlock.hidden = false;
  const grant = document.getElementById("grant");
  if (grant) setUpRevokes(grant.elements.csrf.value);
  for (const form of document.querySelectorAll("form[data-prepare]")) setUpSigned(form);
  for (const form of document.querySelectorAll("form[data-send]")) setUpSent(form);
  if (window.Chart) drawCharts();
  const unread = document.querySelector("[data-unread]");
  const reminder = document.querySelector("[data-reminder]");
  if (unread || reminder) followEvents(unread, reminder);
  for (const button of document.querySelectorAll("[data-print]")) button.addEventListener("click", () => window.print());
  // A scan kept to correct is selected: the scanner's next scan replaces it instead of running on after it.
  for (const field of document.querySelectorAll("input[data-select]")) field.select();
});
