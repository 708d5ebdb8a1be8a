// An offline reader of the server's OpenAPI document: every route, its request body's fields with
// their bounds, and its responses. Text is set with textContent only.
"use strict";

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

let spec = null;

function resolve(schema) {
  let s = schema || {};
  const seen = new Set();
  while (s.$ref && !seen.has(s.$ref)) {
    seen.add(s.$ref);
    s = s.$ref.split("/").slice(1).reduce((o, k) => (o ? o[k] : undefined), spec) || {};
  }
  return s;
}

function typeName(schema) {
  if (schema.$ref) return schema.$ref.split("/").pop();
  const s = schema;
  if (s.anyOf) return s.anyOf.map(typeName).join(" | ");
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.type === "array") return `array of ${typeName(s.items || {})}`;
  return s.type || "any";
}

function bounds(s) {
  const out = [];
  for (const [k, label] of [["minLength", "min length"], ["maxLength", "max length"], ["minItems", "min items"],
    ["maxItems", "max items"], ["minimum", "≥"], ["maximum", "≤"], ["pattern", "pattern"]]) {
    if (s[k] !== undefined) out.push(`${label} ${s[k]}`);
  }
  for (const alt of s.anyOf || []) out.push(...bounds(alt));
  if (s.items) out.push(...bounds(s.items).map((b) => `items: ${b}`));
  if (s.default !== undefined && s.default !== null) out.push(`default ${JSON.stringify(s.default)}`);
  return out;
}

function fieldsTable(schema, depth) {
  const s = resolve(schema);
  if (!s.properties || depth > 3) return null;
  const table = el("table", { class: "fields" });
  const head = el("tr");
  for (const h of ["field", "type", "bounds", "description"]) head.appendChild(el("th", {}, h));
  table.appendChild(head);
  const required = new Set(s.required || []);
  for (const [name, prop] of Object.entries(s.properties)) {
    const row = el("tr");
    row.appendChild(el("td", { class: "name" }, name + (required.has(name) ? " *" : "")));
    row.appendChild(el("td", {}, typeName(prop)));
    row.appendChild(el("td", {}, bounds(prop).join("; ")));
    const desc = el("td", {}, prop.description || resolve(prop).description || "");
    const nestedSchema = prop.$ref ? prop : (prop.items && prop.items.$ref ? prop.items
      : (prop.anyOf || []).find((a) => a.$ref) || ((prop.anyOf || []).find((a) => a.items && a.items.$ref) || {}).items);
    if (nestedSchema && nestedSchema.$ref) {
      const nested = fieldsTable(nestedSchema, depth + 1);
      if (nested) {
        const more = el("details");
        more.appendChild(el("summary", {}, typeName(nestedSchema)));
        more.appendChild(nested);
        desc.appendChild(more);
      }
    }
    row.appendChild(desc);
    table.appendChild(row);
  }
  return table;
}

function render() {
  const root = document.getElementById("docs");
  root.replaceChildren();
  const intro = el("section", { class: "panel" });
  intro.appendChild(el("h2", {}, `${spec.info.title} ${spec.info.version}`));
  intro.appendChild(el("p", {}, spec.info.description || ""));
  root.appendChild(intro);
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const sec = el("section", { class: "panel op" });
      const title = el("h2");
      title.appendChild(el("span", { class: `method ${method}` }, method.toUpperCase()));
      title.appendChild(document.createTextNode(` ${path}`));
      sec.appendChild(title);
      if (op.summary) sec.appendChild(el("p", { class: "muted" }, op.summary));
      if (op.description) sec.appendChild(el("p", {}, op.description));
      const security = (op.security || []).length;
      if (security) sec.appendChild(el("p", { class: "muted" }, "Needs the X-API-Key header when the server has a key."));
      const body = op.requestBody && op.requestBody.content;
      if (body) {
        for (const [type, media] of Object.entries(body)) {
          sec.appendChild(el("h3", {}, `Request body (${type})`));
          const table = fieldsTable(media.schema, 0);
          if (table) sec.appendChild(table);
        }
      }
      const responses = el("ul", { class: "responses" });
      for (const [code, r] of Object.entries(op.responses || {})) {
        const media = r.content && r.content["application/json"];
        const schemaName = media && media.schema ? typeName(media.schema) : "";
        responses.appendChild(el("li", {}, `${code}: ${r.description || ""}${schemaName ? ` (${schemaName})` : ""}`));
      }
      sec.appendChild(el("h3", {}, "Responses"));
      sec.appendChild(responses);
      root.appendChild(sec);
    }
  }
}

fetch("/openapi.json")
  .then((r) => r.json())
  .then((doc) => { spec = doc; render(); })
  .catch((e) => { document.getElementById("docs").textContent = `could not load /openapi.json: ${e.message}`; });
