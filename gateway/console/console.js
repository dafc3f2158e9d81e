// agora operator console: live watch over /api/watch, inject (gateway-signed or
// signed in this browser with @noble/ed25519), and the out-of-band kill switch.
import * as ed from "/assets/noble-ed25519.js";
import { canonicalize } from "/assets/jcs.js";
import { ACTS } from "/assets/acts.js";

const MAX_ROWS = 500;

const $ = (sel) => document.querySelector(sel);
const state = {
  token: sessionStorage.getItem("agora-token") || "",
  role: "",
  ws: undefined,
  channel: "",
  agents: new Map(),
  counters: {},
  retry: 0,
};

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k === "href" || k === "id" || k === "title") e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${state.token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${data.code || res.status}: ${data.message || res.statusText}`);
  return data;
}

// --- rendering ---------------------------------------------------------------------
function renderAgents() {
  const list = $("#agents");
  list.replaceChildren();
  for (const a of state.agents.values()) {
    // Hosted agents, and the external identities a kill stops (LLM agents, scripts, the bridge).
    if (a.kind !== "hosted" && !a.killable) continue;
    const li = el(
      "li",
      { "data-agent": a.name },
      el("strong", {}, a.name),
      a.kind === "hosted" ? "" : el("small", {}, " external "),
      el("span", { class: "status", "data-status": a.status }, a.status),
      el("small", { title: a.reason || "" }, `reads ${a.read.join(", ") || "-"} · writes ${a.write.join(", ") || "-"}`),
      el(
        "span",
        {},
        el(
          "button",
          { class: "kill", "data-kill": a.name, "data-operator": "", onclick: () => control("kill", a.name) },
          "KILL",
        ),
        " ",
        el(
          "button",
          { class: "revive", "data-revive": a.name, "data-operator": "", onclick: () => control("revive", a.name) },
          "revive",
        ),
      ),
    );
    list.append(li);
  }
  applyRole();
}

function renderCounters() {
  const dl = $("#counters");
  dl.replaceChildren();
  // The counters and their order come from the gateway (its hello frame).
  for (const k of Object.keys(state.counters))
    dl.append(el("dt", {}, k.replace(/_/g, "-")), el("dd", { "data-counter": k }, state.counters[k] ?? 0));
}

function renderChannels(channels) {
  const ul = $("#channels");
  ul.replaceChildren();
  const all = el("li", { "data-channel": "", onclick: () => setFilter("") }, "all channels");
  ul.append(all, ...channels.map((c) => el("li", { "data-channel": c, onclick: () => setFilter(c) }, c)));
  for (const li of ul.children) li.toggleAttribute("data-active", li.dataset.channel === state.channel);
  const selects = [$("#inject-channel")];
  for (const s of selects) s.replaceChildren(...channels.map((c) => el("option", { value: c }, c)));
}

function addMessage(f) {
  const env = f.envelope;
  const row = el(
    "tr",
    {
      class: f.ok ? "" : "rejected",
      "data-seq": f.seq,
      ...(env ? { id: `msg-${env.id}`, "data-act": env.act, "data-sender": env.sender, "data-on": env.channel } : {}),
    },
    el("td", {}, f.seq),
    el("td", {}, env ? env.ts.slice(11, 23) : ""),
    el("td", {}, env ? `${env.sender} → ${f.channel}` : f.channel),
    el("td", {}, env ? env.act : ""),
    el("td", {}, env ? env.hop : ""),
    el(
      "td",
      { class: f.ok ? "sig-ok" : "sig-bad", "data-sig": f.ok ? "ok" : f.code },
      f.ok ? "✓ verified" : `✗ ${f.code}`,
    ),
    el("td", {}, env ? env.id : ""),
    el(
      "td",
      {},
      env && env.re
        ? el("a", { href: `#msg-${env.re}`, onclick: (e) => flash(e, env.re) }, env.re.slice(0, 10) + "…")
        : "",
    ),
    el(
      "td",
      { class: "body", title: env ? JSON.stringify(env.body) : f.reason || "" },
      env ? JSON.stringify(env.body) : f.reason || "",
    ),
  );
  const body = $("#messages tbody");
  body.prepend(row);
  while (body.children.length > MAX_ROWS) body.lastChild.remove();
}

function flash(e, id) {
  const target = document.getElementById(`msg-${id}`);
  if (!target) return;
  e.preventDefault();
  target.scrollIntoView({ block: "center" });
  target.classList.add("flash");
  setTimeout(() => target.classList.remove("flash"), 1500);
}

function addEvent(f, count) {
  const ev = f.event;
  const text = `#${f.seq} ${ev.type.replace(/_/g, "-")} · ${ev.agent}${ev.channel ? ` on ${ev.channel}` : ""}${ev.target ? ` → ${ev.target}` : ""}${ev.by ? ` by ${ev.by}` : ""}${ev.code ? ` (${ev.code})` : ""}`;
  const list = $("#events");
  list.prepend(el("li", { "data-event": ev.type }, text));
  while (list.children.length > MAX_ROWS) list.lastChild.remove();
  if (count && ev.type in state.counters) {
    state.counters[ev.type] = (state.counters[ev.type] || 0) + 1;
    renderCounters();
  }
}

function applyRole() {
  const operator = state.role === "operator";
  for (const b of document.querySelectorAll("[data-operator]")) b.disabled = !operator;
  $("#role").textContent = state.role ? `signed in as ${state.role}` : "";
}

// --- live watch --------------------------------------------------------------------
function connect() {
  state.ws?.close();
  if (!state.token) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const q = new URLSearchParams({ token: state.token, ...(state.channel ? { channel: state.channel } : {}) });
  const ws = new WebSocket(`${proto}://${location.host}/api/watch?${q}`);
  state.ws = ws;
  ws.onopen = () => {
    $("#conn").dataset.state = "live";
    $("#conn").textContent = "live";
    state.retry = 0;
    showError("");
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    $("#conn").dataset.state = "offline";
    $("#conn").textContent = "offline";
    if (!state.role) {
      showError("Sign-in failed: unknown token.");
      return;
    }
    setTimeout(connect, Math.min(5000, 250 * 2 ** state.retry++));
  };
  ws.onmessage = (m) => {
    const f = JSON.parse(m.data);
    switch (f.type) {
      case "hello":
        state.role = f.role;
        state.counters = { ...f.counters };
        state.agents = new Map(f.agents.map((a) => [a.name, a]));
        $("#messages tbody").replaceChildren();
        $("#events").replaceChildren();
        renderChannels(f.channels);
        renderAgents();
        renderCounters();
        renderIdentities();
        break;
      case "envelope":
        if (!f.replay) {
          state.counters.envelopes = (state.counters.envelopes || 0) + 1;
          if (!f.ok) state.counters.rejected = (state.counters.rejected || 0) + 1;
          renderCounters();
        }
        addMessage(f);
        break;
      case "event":
        addEvent(f, !f.replay);
        break;
      case "agent":
        state.agents.set(f.agent.name, f.agent);
        renderAgents();
        break;
      case "counters":
        state.counters = { ...state.counters, ...f.counters };
        renderCounters();
        break;
      case "dropped": {
        const box = $("#dropped");
        box.hidden = false;
        box.textContent = `${f.count} frame(s) were dropped because this browser fell behind; the host was not slowed. The counters are re-sent exact every second.`;
        break;
      }
    }
  };
}

function setFilter(channel) {
  state.channel = channel;
  $("#filter-label").textContent = channel || "all channels";
  connect();
}

// --- actions -----------------------------------------------------------------------
async function control(verb, agent) {
  try {
    const r = await api("POST", `/api/${verb}`, { agent });
    showError("");
    $("#inject-result").textContent = `${verb} ${agent}: acknowledged by ${r.hosts.length} host(s) in ${r.ms} ms`;
  } catch (err) {
    showError(String(err.message || err));
  }
}

const b64url = (bytes) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const unb64url = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const randomId = () => b64url(crypto.getRandomValues(new Uint8Array(16)));

function renderIdentities() {
  const external = [...state.agents.values()].filter((a) => a.kind === "external");
  $("#browser-identity").replaceChildren(
    ...external.map((a) =>
      el(
        "option",
        { value: a.name },
        `${a.name}${localStorage.getItem(`agora-key-${a.name}`) ? " (key in browser)" : ""}`,
      ),
    ),
  );
}

async function browserKeygen() {
  const name = $("#browser-identity").value;
  if (!name) return;
  const secret = ed.utils.randomSecretKey();
  const publicKey = b64url(await ed.getPublicKeyAsync(secret));
  try {
    await api("POST", "/api/keys", { name, publicKey });
    localStorage.setItem(`agora-key-${name}`, b64url(secret)); // never leaves this browser
    $("#inject-result").textContent = `registered a browser key for ${name}: ${publicKey}`;
    renderIdentities();
  } catch (err) {
    showError(String(err.message || err));
  }
}

async function inject(e) {
  e.preventDefault();
  let body;
  try {
    body = JSON.parse($("#inject-body").value || "null");
  } catch {
    showError("body is not JSON");
    return;
  }
  const channel = $("#inject-channel").value;
  const act = $("#inject-act").value;
  const hopText = $("#inject-hop").value;
  const hop = hopText === "" ? undefined : Number(hopText);
  const re = $("#inject-re").value.trim() || undefined;
  try {
    let r;
    if ($("#browser-sign").checked) {
      const name = $("#browser-identity").value;
      const secret = localStorage.getItem(`agora-key-${name}`);
      if (!secret) throw new Error(`no browser key for ${name}: press "new browser key" first`);
      const env = {
        v: 1,
        id: randomId(),
        channel,
        sender: name,
        act,
        body,
        hop: hop ?? 3,
        ts: new Date().toISOString(),
        ...(re ? { re } : {}),
      };
      const bytes = new TextEncoder().encode(`agora-envelope-v1\n${canonicalize(env)}`);
      env.sig = b64url(await ed.signAsync(bytes, unb64url(secret)));
      r = await api("POST", "/api/publish", { envelope: env });
    } else {
      r = await api("POST", "/api/inject", {
        channel,
        act,
        body,
        ...(hop !== undefined ? { hop } : {}),
        ...(re ? { re } : {}),
      });
    }
    showError("");
    $("#inject-result").textContent = `sent ${act} ${r.id} (stream seq ${r.seq})`;
  } catch (err) {
    showError(String(err.message || err));
  }
}

// --- presence and delivery status -------------------------------------------------------
/** Every agent's signed card and where it is (idle, working, offline), refreshed every few seconds. */
async function renderPresence() {
  if (!state.token) return;
  try {
    const { agents } = await api("GET", "/api/cards");
    $("#presence").replaceChildren(
      ...agents.map(({ card, status }) =>
        el(
          "li",
          { "data-card": card.name },
          el("strong", {}, card.name),
          el("span", { class: "status", "data-presence": status }, status),
          el(
            "small",
            { title: card.description || "" },
            `${card.agora.kind}${card.agora.host ? ` on ${card.agora.host}` : ""}`,
          ),
        ),
      ),
    );
  } catch {
    /* shown again on the next round */
  }
}
setInterval(renderPresence, 3000);

/** Where one message stands for each agent that may read it. */
async function trace(e) {
  e.preventDefault();
  const id = $("#trace-id").value.trim();
  try {
    // A message in the live table names its channel: the markers answer even where no facts are kept.
    const channel = document.getElementById(`msg-${id}`)?.dataset.on;
    const t = await api(
      "GET",
      `/api/trace/${encodeURIComponent(id)}${channel ? `?channel=${encodeURIComponent(channel)}` : ""}`,
    );
    const head = t.rejected
      ? `rejected (${t.rejected.code}): delivered to nobody`
      : t.channel
        ? `${t.sender || "?"} → ${t.channel} ${t.act || ""}`
        : "no fact names it";
    $("#trace-out").replaceChildren(
      el("li", {}, el("strong", {}, id), ` ${head}`),
      ...t.recipients.map((r) =>
        el(
          "li",
          { "data-trace": r.agent },
          `${r.agent}: `,
          el("span", { class: "status", "data-delivery": r.status }, r.status),
          r.reason ? ` (${r.reason})` : "",
          r.facts.length ? ` — ${r.facts.join(", ")}` : "",
        ),
      ),
    );
  } catch (err) {
    showError(String(err.message || err));
  }
}

// --- conversations -----------------------------------------------------------------
/** Conversations from the facts, most recently active first; a click opens one. */
async function renderConvs() {
  if (!state.token) return;
  try {
    const list = await api("GET", "/api/convs?limit=30");
    $("#convs tbody").replaceChildren(
      ...list.map((c) =>
        el(
          "tr",
          { "data-conv": c.conv, "data-state": c.state, onclick: () => openConv(c.conv) },
          el("td", {}, c.conv.slice(0, 14) + (c.conv.length > 14 ? "…" : "")),
          el("td", { class: "status" }, c.state),
          el("td", {}, c.dropped ? `${c.acts} (+${c.dropped} dropped)` : c.acts),
          el("td", {}, [c.initiator, ...c.participants.filter((p) => p !== c.initiator)].join(" → ")),
          el("td", {}, c.last.slice(11, 23)),
        ),
      ),
    );
  } catch (err) {
    showError(String(err.message || err));
  }
}

/** One conversation: its acts as a tree that follows their re links. */
async function openConv(conv) {
  try {
    const c = await api("GET", `/api/convs/${encodeURIComponent(conv)}`);
    state.conv = c;
    $("#conv-view").hidden = false;
    $("#conv-head").textContent =
      `${c.conv}: ${c.state} — opened by ${c.initiator}, ${c.acts} act(s)` +
      (c.dropped ? `, ${c.dropped} dropped after the cancel` : "");
    $("#conv-cancel").disabled = ["done", "failed", "refused", "cancelled"].includes(c.state);
    const acts = c.actList || [];
    const ids = new Set(acts.map((a) => a.id));
    const items = [];
    const walk = (parent, depth) => {
      for (const a of acts.filter((x) => (x.re && ids.has(x.re) ? x.re : undefined) === parent)) {
        items.push(
          el(
            "li",
            { "data-act": a.act, "data-status": a.status, style: `margin-left: ${depth * 1.5}em` },
            `${a.sender} → ${a.channel}: `,
            el("strong", {}, a.act),
            ` ${a.body.slice(0, 120)} `,
            el("small", {}, `${a.fact} hop ${a.hop}${a.status === "accepted" ? "" : ` [${a.status}]`}`),
          ),
        );
        walk(a.id, depth + 1);
      }
    };
    walk(undefined, 0);
    $("#conv-acts").replaceChildren(...items);
  } catch (err) {
    showError(String(err.message || err));
  }
}

/** The operator ends the open conversation: a cancel signed by the gateway, on its first channel. */
async function cancelConv() {
  const c = state.conv;
  if (!c) return;
  try {
    await api("POST", "/api/inject", {
      channel: c.channels[0],
      act: "cancel",
      body: { reason: "operator" },
      conv: c.conv,
    });
    setTimeout(() => openConv(c.conv), 500);
  } catch (err) {
    showError(String(err.message || err));
  }
}

// --- deploys ----------------------------------------------------------------------
/** One version's counts in a rollout, in a line. */
function versionLine(label, v) {
  const rate = v.calls ? ` (${((v.failures / v.calls) * 100).toFixed(1)}%)` : "";
  return `${label} ${v.component}: ${v.calls} msgs, ${v.failures} failed${rate}, ${v.traps} traps, p99 ${v.p99Ms} ms`;
}

/** What each hosted agent runs; a canary with its per-version counts, and the operator's promote and rollback. */
async function renderDeploys() {
  if (!state.token) return;
  try {
    const list = await api("GET", "/api/rollouts");
    $("#deploys").replaceChildren(
      ...list.map(({ agent, deploy, rollout }) => {
        const canary = deploy?.canary;
        const live = rollout && (canary?.component === rollout.canary.component || rollout.rolledBack);
        const runs = deploy ? deploy.component : "its config's component";
        return el(
          "li",
          { "data-agent": agent, "data-canary": canary ? canary.component : "" },
          el("strong", {}, agent),
          ` runs ${runs}`,
          canary ? ` + canary ${canary.component} on ${canary.percent}%` : "",
          !canary && deploy?.rolledBack
            ? el("small", {}, ` rolled back from ${deploy.rolledBack.component}: ${deploy.rolledBack.reason}`)
            : "",
          live ? el("div", {}, el("small", {}, versionLine("current", rollout.current))) : "",
          live ? el("div", {}, el("small", {}, versionLine("canary", rollout.canary))) : "",
          canary
            ? el(
                "button",
                { "data-operator": "", "data-promote": agent, onclick: () => changeRollout(agent, "promote") },
                "promote",
              )
            : "",
          canary || deploy?.previous
            ? el(
                "button",
                {
                  "data-operator": "",
                  class: "kill",
                  "data-rollback": agent,
                  onclick: () => changeRollout(agent, "rollback"),
                },
                "roll back",
              )
            : "",
        );
      }),
    );
    applyRole();
  } catch (err) {
    showError(String(err.message || err));
  }
}

/** Promote an agent's canary, or roll it back (POST /api/deploy). */
async function changeRollout(agent, op) {
  try {
    await api("POST", "/api/deploy", { agent, [op]: true });
    setTimeout(renderDeploys, 500);
  } catch (err) {
    showError(String(err.message || err));
  }
}

// --- start -------------------------------------------------------------------------
$("#inject-act").replaceChildren(...ACTS.map((a) => el("option", { value: a, selected: a === "request" }, a)));
$("#login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("#token").value.trim();
  state.role = "";
  sessionStorage.setItem("agora-token", state.token);
  connect();
  void renderPresence();
  void renderConvs();
  void renderDeploys();
});
$("#inject").addEventListener("submit", inject);
$("#trace").addEventListener("submit", trace);
$("#convs-refresh").addEventListener("click", renderConvs);
$("#conv-cancel").addEventListener("click", cancelConv);
setInterval(renderConvs, 5000);
setInterval(renderDeploys, 5000);
$("#browser-keygen").addEventListener("click", browserKeygen);
$("#kill-all").addEventListener("click", () => control("kill", "*"));
$("#revive-all").addEventListener("click", () => control("revive", "*"));
applyRole();
renderCounters();
if (state.token) {
  connect();
  void renderPresence();
  void renderConvs();
  void renderDeploys();
}
