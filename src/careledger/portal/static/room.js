// CareLedger visit room: the camera and microphone, the room's WebSocket (who waits, who is in, and the
// session descriptions and ICE candidates the two browsers exchange through it), and the WebRTC connection
// between them. Media goes browser to browser (or through the operator's TURN server), never through the node.
// The practitioner makes the offer once the patient is admitted; the patient answers. Loaded as a file: the
// Content-Security-Policy allows no inline script.
"use strict";

(() => {
  const room = document.getElementById("room");
  if (!room) return;
  const role = room.dataset.role;
  const peerName = room.dataset.peer;
  const patientName = room.dataset.patient;
  const statusLine = document.getElementById("room-status");
  const waiting = document.getElementById("waiting");
  const admit = document.getElementById("admit");
  const hangUp = document.getElementById("hang-up");
  const localVideo = document.getElementById("local-video");
  const remoteVideo = document.getElementById("remote-video");

  let socket = null;
  let local = null;
  let peer = null;
  let call = null;
  let iceServers = [];
  let left = false;
  let peerLeft = false; // the other side hung up (told until it comes back)
  let queue = Promise.resolve(); // messages are handled one at a time, in the order they came

  const say = (text) => { statusLine.textContent = text; };
  const send = (message) => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  };

  function closePeer() {
    if (peer) peer.close();
    peer = null;
    remoteVideo.srcObject = null;
  }

  function newPeer() {
    closePeer();
    peer = new RTCPeerConnection({ iceServers });
    for (const track of local.getTracks()) peer.addTrack(track, local);
    peer.onicecandidate = (event) => {
      if (event.candidate) send({ type: "candidate", candidate: event.candidate.toJSON() });
    };
    peer.ontrack = (event) => {
      if (remoteVideo.srcObject !== event.streams[0]) remoteVideo.srcObject = event.streams[0];
    };
    peer.onconnectionstatechange = () => {
      if (peer && peer.connectionState === "connected") say(`You are in the visit with ${peerName}.`);
      if (peer && peer.connectionState === "failed") say(`The connection to ${peerName} failed: hang up and join again.`);
    };
    return peer;
  }

  function describeRoom(state) {
    const peerAway = role === "practitioner" ? state.patient === "away" : state.practitioner === "away";
    if (peerLeft && peerAway) return `${peerName} left the visit.`;
    if (role === "practitioner") {
      if (waiting) waiting.hidden = state.patient !== "waiting";
      if (state.patient === "waiting") return `${patientName} is waiting.`;
      if (state.patient === "away") return `${patientName} has not joined yet.`;
      return state.call ? `Connecting to ${patientName}…` : `${patientName} is with another practitioner.`;
    }
    if (state.patient === "waiting") return "Waiting for the practitioner to let you in…";
    if (state.practitioner === "away") return "You are in the room; waiting for the practitioner to join…";
    return `Connecting to ${peerName}…`;
  }

  async function onRoom(state) {
    say(describeRoom(state));
    if (state.call === call) return;
    call = state.call;
    closePeer();
    if (!call) return;
    peerLeft = false;
    newPeer();
    if (state.offerer) {
      await peer.setLocalDescription(await peer.createOffer());
      send({ type: "offer", sdp: peer.localDescription.sdp });
    }
  }

  async function handle(message) {
    if (message.type === "room") return onRoom(message);
    if (message.type === "offer") {
      if (!peer) newPeer();
      await peer.setRemoteDescription({ type: "offer", sdp: message.sdp });
      await peer.setLocalDescription(await peer.createAnswer());
      send({ type: "answer", sdp: peer.localDescription.sdp });
    } else if (message.type === "answer" && peer) {
      await peer.setRemoteDescription({ type: "answer", sdp: message.sdp });
    } else if (message.type === "candidate" && peer) {
      await peer.addIceCandidate(message.candidate);
    } else if (message.type === "bye") {
      closePeer();
      call = null;
      peerLeft = true;
      say(`${peerName} left the visit.`);
    }
  }

  function closed(event) {
    closePeer();
    if (left) return;
    if (event.code === 4409) say("The room was opened in another window.");
    else if (event.code === 4403) say(event.reason || "The visit's room has closed.");
    else say(`The connection to the room was lost${event.reason ? `: ${event.reason}` : ""}. Reload the page to join again.`);
  }

  async function join() {
    const id = encodeURIComponent(room.dataset.appointment);
    // TURN credentials come only with an admission to this room (STUN is given to anyone signed in).
    const answer = await fetch(`/telehealth/ice-servers?appointment=${id}`, { credentials: "same-origin" });
    if (!answer.ok) throw new Error(`the node did not give its ICE servers (${answer.status})`);
    iceServers = (await answer.json()).iceServers;
    say("Starting your camera and microphone…");
    local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    localVideo.srcObject = local;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${window.location.host}/telehealth/rooms/${id}`);
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      queue = queue.then(() => handle(message)).catch((error) => say(`Something went wrong: ${error.message}`));
    };
    socket.onclose = closed;
  }

  if (admit) admit.addEventListener("click", () => send({ type: "admit" }));
  hangUp.addEventListener("click", () => {
    left = true;
    send({ type: "bye" });
    if (socket) socket.close(1000, "hung up");
    closePeer();
    if (local) for (const track of local.getTracks()) track.stop();
    hangUp.disabled = true;
    say("You left the visit.");
  });

  // For the browser's own diagnostics (and the tests): the current connection, whose getStats() tells what flows.
  window.careledgerRoom = { peer: () => peer };

  join().catch((error) => say(`Could not join the room: ${error.message}`));
})();
