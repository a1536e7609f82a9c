// The portal's few behaviours; every page works without them but the link page and polling.
"use strict";

// The link page: the token is in the URL fragment, which never reaches a server. Post it, and
// take it out of the address bar and history first.
function signIn() {
  const form = document.getElementById("login");
  if (!form) return;
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (!token) {
    document.querySelectorAll(".noscript-only").forEach((el) => el.classList.add("shown"));
    return;
  }
  history.replaceState(null, "", location.pathname);
  form.elements.token.value = token;
  form.submit();
}

function copyButtons() {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.querySelector(button.dataset.copy);
      if (!source) return;
      await navigator.clipboard.writeText(source.textContent.trim());
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = label), 1500);
    });
  });
}

function confirmations() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

// The test form: a type's example data, unless the data was edited by hand.
function testExamples() {
  const select = document.getElementById("test-type");
  const data = document.getElementById("test-data");
  const source = select && document.querySelector(select.dataset.examples);
  if (!select || !data || !source) return;
  const examples = JSON.parse(source.textContent);
  let edited = false;
  data.addEventListener("input", () => (edited = true));
  select.addEventListener("change", () => {
    if (!edited && select.value in examples) data.value = JSON.stringify(examples[select.value], null, 2);
  });
}

// A test event's result: asked again until an attempt is final, never sooner than twice as long
// as the last answer took (a big attempt log on FerretDB takes seconds to read), for 3 minutes.
function poll() {
  const box = document.querySelector("[data-poll]");
  if (!box) return;
  const url = box.dataset.poll;
  const until = Date.now() + 180000;
  const final = () => box.querySelector('[data-final="1"]') !== null;
  async function again() {
    if (final() || Date.now() > until) return;
    const started = performance.now();
    try {
      const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (answer.ok) box.innerHTML = await answer.text();
    } catch (err) {
      // a dropped connection: ask again below
    }
    setTimeout(again, Math.max(1000, 2 * (performance.now() - started)));
  }
  setTimeout(again, 700);
}

document.addEventListener("DOMContentLoaded", () => {
  signIn();
  copyButtons();
  confirmations();
  testExamples();
  poll();
});
