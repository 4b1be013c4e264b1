// A small API reference built from /api/openapi.json: paths, methods, summaries,
// parameters, request bodies, answers and schemas. Everything is rendered with
// createElement + textContent (no markup from data), so it runs under the strict CSP.

const $ = (tag, props = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'text') el.textContent = v;
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c) el.append(c);
  return el;
};

function refName(ref) {
  return ref.split('/').pop();
}

/** A short one-line type of a schema, e.g. "array of Photo", "string (uuid)". */
function typeOf(schema) {
  if (!schema) return '';
  if (schema.$ref) return refName(schema.$ref);
  if (schema.type === 'array') return `array of ${typeOf(schema.items)}`;
  if (schema.allOf) return schema.allOf.map(typeOf).join(' & ');
  if (schema.oneOf || schema.anyOf) return (schema.oneOf || schema.anyOf).map(typeOf).join(' | ');
  return schema.format ? `${schema.type ?? 'object'} (${schema.format})` : (schema.type ?? 'object');
}

function schemaTable(schema) {
  const props = schema?.properties ?? {};
  if (!Object.keys(props).length) return $('p', { class: 'muted', text: typeOf(schema) });
  const required = new Set(schema.required ?? []);
  return $('table', {},
    $('thead', {}, $('tr', {}, $('th', { text: 'field' }), $('th', { text: 'type' }), $('th', { text: 'notes' }))),
    $('tbody', {}, Object.entries(props).map(([name, p]) => $('tr', {},
      $('td', {}, $('code', { text: name }), required.has(name) ? $('span', { class: 'req', text: ' required' }) : null),
      $('td', { text: typeOf(p) + (p.enum ? ` — one of ${p.enum.join(', ')}` : '') }),
      $('td', { text: [p.description, p.readOnly ? 'read-only' : '', p.writeOnly ? 'write-only' : '']
        .filter(Boolean).join('; ') }),
    ))));
}

function operation(path, method, op) {
  const params = op.parameters ?? [];
  const body = op.requestBody?.content?.['application/json']?.schema;
  const answers = Object.entries(op.responses ?? {});
  const id = `${method}-${path}`.replace(/[^\w-]/g, '_');
  return $('details', { class: 'op', id, 'data-search': `${method} ${path} ${op.summary ?? ''} ${(op.tags ?? []).join(' ')}`.toLowerCase() },
    $('summary', {}, $('span', { class: `method ${method}`, text: method.toUpperCase() }), $('code', { text: path }),
      $('span', { class: 'summary', text: op.summary ?? '' })),
    op.description ? $('p', { class: 'desc', text: op.description }) : null,
    params.length ? $('section', {}, $('h4', { text: 'Parameters' }), $('table', {},
      $('tbody', {}, params.map((p) => $('tr', {},
        $('td', {}, $('code', { text: p.name }), p.required ? $('span', { class: 'req', text: ' required' }) : null),
        $('td', { text: `${p.in} · ${typeOf(p.schema)}` }),
        $('td', { text: p.description ?? p.schema?.description ?? '' })))))) : null,
    body ? $('section', {}, $('h4', { text: `Request body: ${typeOf(body)}` }),
      body.$ref ? null : schemaTable(body)) : null,
    answers.length ? $('section', {}, $('h4', { text: 'Answers' }), $('ul', {}, answers.map(([code, r]) => $('li', {},
      $('code', { text: code }), ' ', r.description ?? '',
      r.content ? ` — ${Object.entries(r.content).map(([type, c]) => `${type}: ${typeOf(c.schema)}`).join(', ')}` : '')))) : null);
}

async function main() {
  const about = document.getElementById('about');
  let spec;
  try {
    const resp = await fetch('/api/openapi.json');
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    spec = await resp.json();
  } catch (err) {
    about.textContent = `Could not load /api/openapi.json: ${err.message}`;
    return;
  }
  about.textContent = `${spec.info?.title ?? 'API'} ${spec.info?.version ?? ''} — ${spec.info?.description ?? ''}`;
  const byTag = new Map();
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const tag = op.tags?.[0] ?? 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, method, { ...op, parameters: [...(item.parameters ?? []), ...(op.parameters ?? [])] }));
    }
  }
  const toc = document.getElementById('toc');
  const main = document.getElementById('paths');
  for (const [tag, ops] of byTag) {
    const anchor = `tag-${tag.replace(/\W/g, '_')}`;
    toc.append($('a', { href: `#${anchor}`, text: tag }));
    const desc = (spec.tags ?? []).find((x) => x.name === tag)?.description;
    main.append($('section', { id: anchor }, $('h2', { text: tag }), desc ? $('p', { class: 'muted', text: desc }) : null, ops));
  }
  const schemas = spec.components?.schemas ?? {};
  if (Object.keys(schemas).length) {
    toc.append($('a', { href: '#schemas', text: 'Schemas' }));
    main.append($('section', { id: 'schemas' }, $('h2', { text: 'Schemas' }),
      Object.entries(schemas).map(([name, s]) => $('details', { class: 'op', 'data-search': name.toLowerCase() },
        $('summary', {}, $('code', { text: name })), schemaTable(s)))));
  }
  document.getElementById('filter').addEventListener('input', (e) => {
    const q = e.target.value.trim().toLowerCase();
    for (const el of main.querySelectorAll('[data-search]')) el.hidden = Boolean(q) && !el.dataset.search.includes(q);
  });
  document.documentElement.dataset.ready = 'true';
}

main();
