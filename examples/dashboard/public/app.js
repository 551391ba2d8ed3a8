// Dashboard client: live readings over a WebSocket; the device API with Basic auth.
'use strict';
const $ = (id) => document.getElementById(id);
let auth = null;

function connect() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  ws.onopen = () => { $('link').textContent = 'live'; $('link').className = 'badge on'; };
  ws.onclose = () => {
    $('link').textContent = 'offline'; $('link').className = 'badge off';
    setTimeout(connect, 1000);
  };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.label !== undefined) $('label').textContent = m.label;
    if (m.seq !== undefined) {
      $('temperature').textContent = m.temperature_c.toFixed(2);
      $('seq').textContent = m.seq;
      $('uptime').textContent = m.uptime_s;
    }
  };
}

async function api(path, body) {
  const res = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { Authorization: auth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(res.status === 401 ? 'wrong user or password' : data.error || `HTTP ${res.status}`);
  return data;
}

async function refresh() {
  const s = await api('/api/status');
  $('device-label').textContent = s.label;
  $('device-readings').textContent = s.readings;
  $('device-clients').textContent = s.clients;
  $('device').hidden = false;
}

$('login').onsubmit = async (e) => {
  e.preventDefault();
  auth = 'Basic ' + btoa(`${$('user').value}:${$('password').value}`);
  try { await refresh(); $('error').textContent = ''; $('login').hidden = true; }
  catch (err) { $('error').textContent = err.message; }
};

$('config').onsubmit = async (e) => {
  e.preventDefault();
  try { await api('/api/config', { label: $('new-label').value }); await refresh(); $('error').textContent = ''; }
  catch (err) { $('error').textContent = err.message; }
};

connect();
