// CareLedger sign-in for a SMART app: the wallet in this browser (EIP-1193) signs a
// Sign-In with Ethereum message (EIP-4361) for this node; the form then carries the
// message and signature back with the app's authorization request. No inline script:
// the page's Content-Security-Policy allows only scripts from this server.
"use strict";

function siweMessage(domain, address, uri, chainId, nonce) {
  return [
    `${domain} wants you to sign in with your Ethereum account:`,
    address,
    "",
    "Sign in to CareLedger and let the app act with the scopes shown",
    "",
    `URI: ${uri}`,
    "Version: 1",
    `Chain ID: ${chainId}`,
    `Nonce: ${nonce}`,
    `Issued At: ${new Date().toISOString().replace(/\.\d{3}Z$/, "Z")}`,
  ].join("\n");
}

async function signIn(event) {
  event.preventDefault();
  const status = document.getElementById("status");
  const form = document.getElementById("authorize");
  if (!window.ethereum) {
    status.textContent = "No wallet in this browser: sign the message with your wallet and paste it below.";
    return;
  }
  try {
    const [address] = await window.ethereum.request({ method: "eth_requestAccounts" });
    const found = await (await fetch("/auth/nonce")).json();
    const message = siweMessage(found.domain, address, window.location.origin, found.chain_id, found.nonce);
    const signature = await window.ethereum.request({ method: "personal_sign", params: [message, address] });
    form.elements.message.value = message;
    form.elements.signature.value = signature;
    form.submit();
  } catch (error) {
    status.textContent = `The wallet did not sign: ${error.message || error}`;
  }
}

document.getElementById("wallet").addEventListener("click", signIn);
