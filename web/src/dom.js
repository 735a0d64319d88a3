/* Building the panel's elements, and amounts shown as the dashboard's pages show them: rounded text,
 * the exact value in `data-wei` / `data-units` (what the tests, and a curious visitor, compare). */

import {formatUnits} from "viem";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function amount(value, attr, unit = "") {
  const exact = BigInt(value);
  const [whole, fraction = ""] = formatUnits(exact, 18).split(".");
  const shown = fraction ? `${whole}.${fraction.slice(0, 6).replace(/0+$/, "")}`.replace(/\.$/, "") : whole;
  return el("span", {class: "amount", [attr]: exact.toString(), title: `${exact} ${unit ? "wei" : "base units"}`, text: shown + unit});
}
export const eth = (wei) => amount(wei, "data-wei", " ETH");
export const shares = (units) => amount(units, "data-units");
export const short = (a) => el("span", {class: "addr", "data-address": a, title: a, text: `${a.slice(0, 8)}…${a.slice(-4)}`});
