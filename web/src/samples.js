/* A curator looks at the data it votes on: the wallet signs the store's own read request.
 *
 * The text signed is `databright.store.auth.canonical_text` (EIP-191 `personal_sign`), sent as
 * the four X-DataBright-* headers through the dashboard's relay (`/api/store/blobs/CID`), which
 * passes the store's answer back as it is: the store's on-chain access check decides, and an
 * account without a right sees the store's refusal. The bytes are a canonical dataset, drawn as
 * an image grid when the samples are image-shaped and as a table otherwise.
 */

import {readDataset} from "./npz.js";
import {describe} from "./chain.js";

const SHOWN_IMAGES = 48, SHOWN_ROWS = 50, SHOWN_COLUMNS = 16;

export function requestText(cid, timestamp, nonce) {
  return `DataBright store request v1\nmethod:GET\npath:/blobs/${cid}\ncid:${cid}\ntimestamp:${timestamp}\nnonce:${nonce}`;
}

function nonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export async function showSamples(c, market, cid, box) {
  const say = (state, text) => { box.dataset.state = state; box.replaceChildren(paragraph(text)); };
  say("signing", "Asking your wallet to sign the store's read request…");
  const timestamp = Math.floor(Date.now() / 1000), once = nonce();
  let signature;
  try {
    signature = await c.wallet.signMessage({account: c.account, message: requestText(cid, timestamp, once)});
  } catch (error) {
    const found = describe(error);
    say(found.state, found.text.replace("nothing was sent", "nothing was asked of the store"));
    return;
  }
  say("loading", "Reading from the store…");
  let answer;
  try {
    answer = await fetch(market.store_relay + cid, {cache: "no-store", headers: {
      "X-DataBright-Address": c.account, "X-DataBright-Timestamp": String(timestamp),
      "X-DataBright-Nonce": once, "X-DataBright-Signature": signature}});
  } catch (error) {
    say("error", `The dashboard did not answer: ${error.message}`);
    return;
  }
  if (!answer.ok) {
    let body = {};
    try { body = await answer.json(); } catch { /* not JSON: keep the status */ }
    say("refused", `The store refused (${answer.status} ${body.error || answer.statusText}): ${body.reason || ""}`.trim());
    return;
  }
  let dataset;
  try {
    dataset = readDataset(new Uint8Array(await answer.arrayBuffer()));
  } catch (error) {
    say("error", `Read, but not drawable: ${error.message}`);
    return;
  }
  draw(dataset, box);
}

function paragraph(text) {
  const p = document.createElement("p");
  p.textContent = text;
  return p;
}

function imageShaped(shape) {
  return shape.length === 3 || (shape.length === 4 && [1, 3, 4].includes(shape[3]));
}

function draw({x, y}, box) {
  const n = x.shape[0];
  const labels = Array.from(y.data, (v) => String(v));
  const per = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const value = (i, j) => Number(x.data[i * per + j]);
  box.dataset.n = String(n);
  box.dataset.shape = JSON.stringify(x.shape.slice(1));
  const head = paragraph(`${n} samples of shape ${x.shape.slice(1).join("×")} (${x.dtype}), labels ${[...new Set(labels)].sort().join(", ")}.`);
  if (imageShaped(x.shape)) {
    box.dataset.kind = "images";
    const shown = Math.min(n, SHOWN_IMAGES), [h, w] = x.shape.slice(1, 3), channels = x.shape[3] || 1;
    let low = Infinity, high = -Infinity;
    for (let j = 0; j < shown * per; j++) { const v = Number(x.data[j]); if (v < low) low = v; if (v > high) high = v; }
    const scale = high > low ? 255 / (high - low) : 0;
    const grid = document.createElement("div");
    grid.className = "sample-grid";
    for (let i = 0; i < shown; i++) {
      const canvas = document.createElement("canvas");
      canvas.width = w; canvas.height = h;
      const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
      for (let p = 0; p < h * w; p++) {
        for (let ch = 0; ch < 3; ch++) {
          img.data[p * 4 + ch] = Math.round((value(i, p * channels + (channels >= 3 ? ch : 0)) - low) * scale);
        }
        img.data[p * 4 + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
      const figure = document.createElement("figure");
      figure.dataset.sample = String(i);
      figure.dataset.label = labels[i];
      const caption = document.createElement("figcaption");
      caption.textContent = labels[i];
      figure.append(canvas, caption);
      grid.append(figure);
    }
    box.dataset.shown = String(shown);
    box.dataset.state = "shown";
    box.replaceChildren(head, grid);
    return;
  }
  box.dataset.kind = "table";
  const shown = Math.min(n, SHOWN_ROWS), columns = Math.min(per, SHOWN_COLUMNS);
  const table = document.createElement("table");
  table.className = "compact samples";
  const header = table.createTHead().insertRow();
  for (const name of ["#", ...Array.from({length: columns}, (_, j) => `f${j}`), ...(per > columns ? ["…"] : []), "label"]) {
    const th = document.createElement("th");
    th.textContent = name;
    header.append(th);
  }
  const body = table.createTBody();
  for (let i = 0; i < shown; i++) {
    const row = body.insertRow();
    row.dataset.sample = String(i);
    row.dataset.label = labels[i];
    row.insertCell().textContent = String(i);
    for (let j = 0; j < columns; j++) {
      const cell = row.insertCell();
      cell.className = "r";
      cell.dataset.value = String(value(i, j));
      cell.textContent = Number.isInteger(value(i, j)) ? String(value(i, j)) : value(i, j).toPrecision(4);
    }
    if (per > columns) row.insertCell().textContent = "…";
    row.insertCell().textContent = labels[i];
  }
  box.dataset.shown = String(shown);
  box.dataset.state = "shown";
  box.replaceChildren(head, table);
}
