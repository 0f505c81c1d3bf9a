// hybridsearch search page: plain JavaScript, no libraries, no network but this server.
// Every text from the index is inserted as text (textContent), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("search"), q = $("q"), alpha = $("alpha"), alphaValue = $("alpha-value");
const indexSelect = $("index"), typeSelect = $("type"), path = $("path");
const hitsList = $("hits"), status = $("status");
let hits = [], selected = -1, defaults = { alpha: 0.4 };
let within = "", sources = [];  // a document's path: its own matching passages are listed, not one hit per document

// The caller's token (a server's shared --token-env token, or the reader's own of its --auth file),
// kept for this tab only and sent on every request; what the server answers is what it lets them read.
function token() { return sessionStorage.getItem("hybridsearch-token") || ""; }

async function api(url) {
  const headers = token() ? { Authorization: "Bearer " + token() } : {};
  const response = await fetch(url, { headers });
  if (response.status === 401) {
    $("token-bar").hidden = false; $("token").focus();
    throw new Error(token() ? "アクセストークンが正しくありません。" : "アクセストークンが必要です。");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function marked(text, marks, markClass) {
  // text with the [start, end) spans of `marks` in <mark> elements (a third item: that mark's class)
  const out = document.createDocumentFragment();
  let position = 0;
  for (const [start, end, own] of marks) {
    if (start < position || end <= start) continue;
    out.append(document.createTextNode(text.slice(position, start)));
    out.append(el("mark", own || markClass, text.slice(start, end)));
    position = end;
  }
  out.append(document.createTextNode(text.slice(position)));
  return out;
}

function state() {
  const params = new URLSearchParams();
  if (q.value.trim()) params.set("q", q.value.trim());
  if (Number(alpha.value) !== defaults.alpha) params.set("alpha", alpha.value);
  if (indexSelect.value && indexSelect.options.length > 1) params.set("index", indexSelect.value);
  if (typeSelect.value) params.set("type", typeSelect.value);
  if (path.value.trim()) params.set("path", path.value.trim());
  if (within) params.set("within", within);
  return params;
}

async function search() {
  const params = state();
  history.replaceState(null, "", params.toString() ? "?" + params : location.pathname);
  if (!params.get("q")) { hitsList.replaceChildren(); status.textContent = ""; return; }
  const query = new URLSearchParams({ q: params.get("q"), k: "10", alpha: alpha.value });
  if (!within) query.set("group_by", "document");
  if (indexSelect.value) query.set("index", indexSelect.value);
  const where = { ...(typeSelect.value ? { type: typeSelect.value } : {}), ...(within ? { path: within } : {}) };
  if (Object.keys(where).length) query.set("where", JSON.stringify(where));
  if (path.value.trim()) query.set("path", path.value.trim());
  status.textContent = "検索中…";
  try {
    const result = await api("/search?" + query);
    render(result);
  } catch (error) {
    hits = []; hitsList.replaceChildren(); status.textContent = "エラー: " + error.message;
  }
}

function render(result) {
  hits = result.hits; selected = -1;
  status.textContent = !hits.length ? "該当する文書が見つかりませんでした。"
    : result.no_good_match ? "該当する文書が見つかりませんでした（確信度の低い結果を表示しています）。"
    : within ? `${shown(within)} の該当箇所 ${hits.length} 件` : `${hits.length} 件（${result.index}、α=${result.alpha}）`;
  if (within) {
    const back = el("button", "back", "すべての文書に戻る");
    back.type = "button";
    back.addEventListener("click", () => { within = ""; search(); });
    status.append("　", back);
  }
  hitsList.replaceChildren(...hits.map((hit, number) => {
    const item = el("li");
    item.tabIndex = 0;
    item.dataset.number = number;
    const title = hit.title || hit.source.split("/").pop();
    item.append(el("div", "title", `${hit.rank}. ${title}`));
    const where = hit.record ? `${shown(hit.path)} #${hit.record}` : shown(hit.path);
    const source = el("div", "source", where + (hit.location.label ? `　${hit.location.label}` : ""));
    const anchor = original(hit.metadata.link);
    if (anchor) {
      anchor.addEventListener("click", (event) => event.stopPropagation());  // the link, not the viewer
      source.append("　", anchor);
    }
    item.append(source);
    const snippet = el("p", "snippet");
    snippet.append(marked(hit.snippet.text, hit.snippet.marks, "term"));
    item.append(snippet);
    const dense = hit.dense === null ? "-" : hit.dense.toFixed(3);
    const confidence = hit.confidence === null ? "" : `　確信度 ${Math.round(hit.confidence * 100)}%`;
    item.append(el("div", "scores", `スコア ${hit.score.toFixed(3)}　BM25 ${hit.bm25.toFixed(2)}　意味 ${dense}${confidence}`));
    if (hit.weak) item.classList.add("weak");
    const also = el("div", "also");
    if (hit.more) {
      const more = el("button", "more", `この文書の他の該当箇所 ${hit.more} 件`);
      more.type = "button";
      more.addEventListener("click", (event) => { event.stopPropagation(); within = hit.path; search(); });
      also.append(more);
    }
    if (hit.copies.length) also.append(`　同じ内容: ${[...new Set(hit.copies.map((copy) => shown(copy.source)))].join("、")}`);
    if (also.childNodes.length) item.append(also);
    item.addEventListener("click", () => open(number));
    item.addEventListener("focus", () => select(number, false));
    return item;
  }));
}

// A path as the reader knows it: below the folder that was indexed, not where the server keeps it.
function shown(path) {
  const source = sources.find((folder) => path.startsWith(folder));
  return source ? path.slice(source.length) : path;
}

// A link to a document's original (its `link` field, from hsearch.toml): http(s) and file
// addresses only, never script.
function original(link) {
  let protocol = null;
  try { protocol = new URL(link).protocol; } catch { return null; }
  if (!["http:", "https:", "file:"].includes(protocol)) return null;
  const anchor = el("a", "original", "原本を開く");
  anchor.href = link; anchor.target = "_blank"; anchor.rel = "noopener noreferrer";
  return anchor;
}

function select(number, focus = true) {
  if (!hits.length) return;
  selected = Math.max(0, Math.min(hits.length - 1, number));
  [...hitsList.children].forEach((item, i) => item.classList.toggle("selected", i === selected));
  if (focus) hitsList.children[selected].focus();
}

async function open(number) {
  const hit = hits[number];
  const params = indexSelect.value ? "?index=" + encodeURIComponent(indexSelect.value) : "";
  try {
    const documentBody = await api("/documents/" + encodeURIComponent(hit.document_id) + params);
    $("viewer-title").textContent = documentBody.title || documentBody.path;
    const source = $("viewer-source"), anchor = original(documentBody.metadata.link);
    source.textContent = documentBody.record ? `${shown(documentBody.path)} #${documentBody.record}` : shown(documentBody.path);
    if (anchor) source.append("　", anchor);
    const text = $("viewer-text");
    const answer = [hit.answer_start ?? hit.start, hit.answer_end ?? hit.end];
    text.replaceChildren(marked(documentBody.text,
      [[hit.start, answer[0]], [answer[0], answer[1], "answer"], [answer[1], hit.end]], "passage"));
    $("viewer").hidden = false;
    $("viewer-close").focus();
    const passage = text.querySelector("mark.answer") || text.querySelector("mark");
    if (passage) passage.scrollIntoView({ block: "center" });
  } catch (error) { status.textContent = "エラー: " + error.message; }
}

function close() {
  $("viewer").hidden = true;
  if (selected >= 0) hitsList.children[selected].focus();
}

async function start() {
  const params = new URLSearchParams(location.search);
  $("token-change").hidden = !token();
  try {
    const served = await api("/indexes");
    indexSelect.replaceChildren(...served.indexes.map((item) =>
      new Option(item.documents === null ? item.name : `${item.name}（${item.documents} 文書）`, item.name)));
    $("index-label").hidden = served.indexes.length < 2;
    if (params.get("index")) indexSelect.value = params.get("index");
    await loadFields();
  } catch (error) { status.textContent = "エラー: " + error.message; }
  q.value = params.get("q") || "";
  if (params.get("alpha")) alpha.value = params.get("alpha");
  if (params.get("type")) typeSelect.value = params.get("type");
  path.value = params.get("path") || "";
  within = params.get("within") || "";
  alphaValue.textContent = alpha.value;
  if (q.value) search();
}

async function loadFields() {
  const info = await api("/info" + (indexSelect.value ? "?index=" + encodeURIComponent(indexSelect.value) : ""));
  defaults.alpha = info.config.alpha;
  sources = (info.sources || []).map((source) => source.replace(/\/+$/, "") + "/").sort((a, b) => b.length - a.length);
  if (!new URLSearchParams(location.search).get("alpha")) alpha.value = defaults.alpha;
  const types = (info.values && info.values.type) || [];
  typeSelect.replaceChildren(new Option("すべて", ""), ...types.map((type) => new Option(type, type)));
  $("type-label").hidden = types.length < 2;
}

form.addEventListener("submit", (event) => { event.preventDefault(); within = ""; search(); });
alpha.addEventListener("input", () => { alphaValue.textContent = alpha.value; });
alpha.addEventListener("change", search);
typeSelect.addEventListener("change", search);
indexSelect.addEventListener("change", async () => { await loadFields(); search(); });
$("viewer-close").addEventListener("click", close);
$("viewer").addEventListener("click", (event) => { if (event.target === $("viewer")) close(); });
$("token-save").addEventListener("click", () => {
  sessionStorage.setItem("hybridsearch-token", $("token").value.trim());
  $("token").value = ""; $("token-bar").hidden = true;
  hits = []; hitsList.replaceChildren(); status.textContent = "";  // nothing of the last reader's stays
  start();
});
$("token").addEventListener("keydown", (event) => { if (event.key === "Enter") $("token-save").click(); });
$("token-change").addEventListener("click", () => { $("token-bar").hidden = false; $("token").focus(); });
document.addEventListener("keydown", (event) => {
  const typing = event.target.matches("input, select, textarea");
  if (event.key === "Escape" && !$("viewer").hidden) { close(); return; }
  if (event.key === "/" && !typing) { event.preventDefault(); q.focus(); q.select(); return; }
  if (!$("viewer").hidden) return;
  if (event.key === "ArrowDown") { event.preventDefault(); select(selected + 1); }
  else if (event.key === "ArrowUp") { event.preventDefault(); if (selected <= 0) q.focus(); else select(selected - 1); }
  else if (event.key === "Enter" && event.target.matches("#hits li")) { event.preventDefault(); open(selected); }
});
start();
