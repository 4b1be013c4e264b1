// The one place that turns markup into DOM. Every interpolated value is escaped, so
// untrusted data (names, notes, server messages) can never become markup.
//
//   render(el, html`<p class="x">${user.name}</p>${items.map((i) => html`<li>${i}</li>`)}`);
//
// Values: strings/numbers are escaped; html`` results are inserted as they are; arrays are
// joined; null/undefined/false render nothing. Attribute values must be quoted in the
// template. Event handlers are never written in markup (CSP): wire them after render().

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

class Trusted {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

/** Escape one value for text or a quoted attribute. */
export function escape(value) {
  return String(value).replace(/[&<>"'`]/g, (c) => ESCAPES[c]);
}

function part(value) {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Trusted) return value.text;
  if (Array.isArray(value)) return value.map(part).join('');
  return escape(value);
}

/** Tagged template: static parts trusted, every value escaped. */
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i += 1) out += part(values[i]) + strings[i + 1];
  return new Trusted(out);
}

/** Replace the children of `target` with the template's DOM. */
export function render(target, template) {
  if (!(template instanceof Trusted)) throw new TypeError('render() takes an html`` template');
  const tpl = document.createElement('template');
  tpl.innerHTML = template.text; // safe: built only by html``, which escapes every value
  target.replaceChildren(tpl.content);
}
