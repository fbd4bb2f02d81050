"""The page `stance serve` shows at `/`: a text box, a button, and the HTML report's highlighted view of the
result (inference.report_html), self-contained (inline CSS and JS, nothing fetched from elsewhere)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from inference.report_html import STYLE


def _style() -> str:
    return STYLE


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stance</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; }
textarea { width: 100%; min-height: 12em; font: inherit; }
.controls { margin: .5em 0; display: flex; gap: 1em; align-items: center; flex-wrap: wrap; }
#status { color: #555; }
#result .error { color: #a00; }
__STYLE__
</style>
</head>
<body>
<h1>stance</h1>
<p>Labels each sentence: __LABELS__.</p>
<textarea id="text" placeholder="Paste an article, or one sentence a line"></textarea>
<div class="controls">
<label>input <select id="mode"><option value="article">article</option>
<option value="texts">one text a line</option></select></label>
<label>threshold <input id="threshold" type="number" min="0" max="1" step="0.05" value="0"></label>
__KEY__<button id="label" type="button">Label</button>
<span id="status"></span>
</div>
<div id="result"></div>
<script>
(function () {
  var button = document.getElementById("label");
  var result = document.getElementById("result");
  var status = document.getElementById("status");
  function fail(message) {
    var p = document.createElement("p");
    p.className = "error";
    p.textContent = message;
    result.replaceChildren(p);
  }
  button.addEventListener("click", function () {
    var text = document.getElementById("text").value;
    var mode = document.getElementById("mode").value;
    var body = { threshold: parseFloat(document.getElementById("threshold").value) || 0 };
    if (mode === "texts") {
      body.texts = text.split(/\\r?\\n/).filter(function (t) { return t.trim() !== ""; });
    } else {
      body.article = text;
    }
    var headers = { "Content-Type": "application/json" };
    var key = document.getElementById("api-key");
    if (key && key.value) { headers["Authorization"] = "Bearer " + key.value; }
    button.disabled = true;
    status.textContent = "labelling...";
    fetch("render", { method: "POST", headers: headers, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, status: r.status, data: data }; }); })
      .then(function (r) {
        if (!r.ok) {
          var d = r.data || {};
          fail("error " + r.status + ": " + (d.message || (typeof d.detail === "string" ? d.detail : JSON.stringify(d.detail))));
          status.textContent = "";
          return;
        }
        result.innerHTML = r.data.html;  // escaped by the server
        status.textContent = r.data.count + " sentences";
      })
      .catch(function (e) { fail(String(e)); status.textContent = ""; })
      .finally(function () { button.disabled = false; });
  });
})();
</script>
</body>
</html>
"""

_KEY_INPUT = '<label>API key <input id="api-key" type="password" autocomplete="off"></label>\n'

# the page loads nothing from anywhere: inline style and script only, requests to this server only
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"


def page(labels: Sequence[str], api_key: bool) -> str:
    return (
        _PAGE.replace("__STYLE__", _style())
        .replace("__LABELS__", html.escape(", ".join(labels)))
        .replace("__KEY__", _KEY_INPUT if api_key else "")
    )


# ------------------------------------------------------------------------------------------------ the app
