// cairn UI: page behaviour that needs a browser. Each part looks for its elements and does nothing
// on pages without them. Writes go through MLflow's own REST API (the same one the client uses).

const API = "/ajax-api/2.0/mlflow";

async function call(path, body) {
  const response = await fetch(API + path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).message || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response.json();
}

function showError(error) {
  const box = document.getElementById("action-error");
  if (box) { box.textContent = String(error.message || error); box.hidden = false; }
}

function experiments() {
  const create = document.getElementById("create-experiment");
  if (create) {
    create.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = create.elements.name.value.trim();
      if (!name) return;
      try { await call("/experiments/create", { name }); location.reload(); } catch (error) { showError(error); }
    });
  }
  const table = document.getElementById("experiments-table");
  if (!table) return;
  table.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    const row = event.target.closest("tr[data-experiment-id]");
    if (!button || !row) return;
    const id = row.dataset.experimentId;
    try {
      if (button.classList.contains("exp-rename")) {
        const name = window.prompt("New name", row.dataset.experimentName);
        if (!name || name === row.dataset.experimentName) return;
        await call("/experiments/update", { experiment_id: id, new_name: name });
      } else if (button.classList.contains("exp-delete")) {
        if (!window.confirm(`Delete experiment “${row.dataset.experimentName}”? It can be restored.`)) return;
        await call("/experiments/delete", { experiment_id: id });
      } else if (button.classList.contains("exp-restore")) {
        await call("/experiments/restore", { experiment_id: id });
      } else {
        return;
      }
      location.reload();
    } catch (error) { showError(error); }
  });
}

function runsTable() {
  // The column picker writes one `columns=a,b` parameter (the URL stays short and shareable).
  const picker = document.getElementById("columns");
  if (picker) {
    picker.addEventListener("submit", (event) => {
      event.preventDefault();
      const url = new URL(picker.action, location.href);
      for (const input of picker.querySelectorAll("input[type=hidden]")) url.searchParams.append(input.name, input.value);
      const picked = [...picker.querySelectorAll("input[name=columns]:checked")].map((box) => box.value);
      if (picked.length) url.searchParams.set("columns", picked.join(","));
      location.href = url.toString();
    });
  }
  const compare = document.getElementById("compare-selected");
  const chart = document.getElementById("chart-selected");
  if (!compare) return;
  const selected = () => [...document.querySelectorAll("input.select-run:checked")].map((box) => box.value);
  const update = () => {
    const count = selected().length;
    compare.disabled = count < 2;
    if (chart) chart.disabled = count < 1;
    const label = document.getElementById("selected-count");
    if (label) label.textContent = count ? `${count} selected` : "";
  };
  document.addEventListener("change", (event) => {
    if (event.target.matches("input.select-run")) update();
    if (event.target.matches("#select-all")) {
      document.querySelectorAll("input.select-run").forEach((box) => { box.checked = event.target.checked; });
      update();
    }
  });
  compare.addEventListener("click", () => {
    const runs = selected();
    if (runs.length >= 2) location.href = "/compare?" + runs.map((id) => "run=" + encodeURIComponent(id)).join("&");
  });
  if (chart) {
    chart.addEventListener("click", () => {
      const runs = selected();
      const key = chart.dataset.key || "";
      if (runs.length) location.href = "/charts?" + runs.map((id) => "run=" + encodeURIComponent(id)).join("&") + (key ? "&key=" + encodeURIComponent(key) : "");
    });
  }
  update();
}

// The version page's lineage: the graph from cairn's lineage API as "source —relation→ target" lines.
async function lineage() {
  const page = document.querySelector("main[data-page=version]");
  const target = document.getElementById("lineage-graph");
  if (!page || !target) return;
  const url = "/ajax-api/2.0/cairn/lineage?name=" + encodeURIComponent(page.dataset.modelName) +
    "&version=" + encodeURIComponent(page.dataset.version) + "&direction=upstream";
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error((await response.json()).message || response.statusText);
    const graph = await response.json();
    const label = new Map(graph.nodes.map((node) => [node.id, node]));
    const list = document.createElement("ul");
    list.className = "plain";
    for (const edge of graph.edges) {
      const item = document.createElement("li");
      const from = label.get(edge.source);
      const to = label.get(edge.target);
      const describe = (node, id) => (node ? `${node.type} ${node.label}` : id);
      item.dataset.source = edge.source;
      item.dataset.target = edge.target;
      item.textContent = `${describe(from, edge.source)} —${edge.relation}→ ${describe(to, edge.target)}`;
      list.appendChild(item);
    }
    target.textContent = graph.edges.length ? "" : "No upstream lineage recorded.";
    target.classList.remove("muted");
    target.appendChild(list);
  } catch (error) {
    target.textContent = "Lineage unavailable: " + error.message;
  }
}

experiments();
runsTable();
lineage();
