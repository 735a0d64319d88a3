/* The dashboard's wallet panel: connect the visitor's own wallet, show what its account holds, act.
 *
 * Everything the panel shows comes from the chain: `/api/accounts/ADDRESS` (read by the dashboard at
 * the latest block), refreshed when a transaction is mined and whenever the page sees a new block.
 * Every action is a transaction the visitor's wallet signs (see chain.js); the dashboard never holds a
 * visitor's key.
 */

import {getAddress, parseUnits} from "viem";
import {renderAccount} from "./account.js";
import {discover} from "./discover.js";
import {el} from "./dom.js";
import {clients, send} from "./chain.js";
import {digestOfCid} from "./cid.js";
import {showSamples} from "./samples.js";

const panel = document.getElementById("wallet");
const market = JSON.parse(document.getElementById("market").textContent);
const page = {kind: panel.dataset.page, ...panel.dataset};
const REMEMBER = "databright.wallet";

let wallets = [];
let current = null;  // {info, provider, account, chainId, c}
let busy = false;
let seq = 0;

const bar = el("div", {class: "wallet-bar"});
const tx = el("p", {class: "tx", "data-k": "tx", "data-state": "idle", "data-seq": "0", hidden: true});
const actions = el("div", {class: "wallet-actions", "data-k": "page-actions"});
const mine = el("div", {class: "wallet-mine", "data-k": "mine"});
panel.replaceChildren(bar, tx, actions, mine);

const status = {
  step(state, text, extra = {}) {
    if (state === "signing") tx.dataset.seq = String(++seq);
    tx.hidden = false;
    tx.dataset.state = state;
    tx.dataset.hash = extra.hash || "";
    tx.dataset.block = extra.block || "";
    tx.textContent = text;
  },
};

function say(state, text, ...buttons) {
  bar.replaceChildren(el("span", {"data-k": "wallet-status", "data-state": state, text}), ...buttons);
}

function renderBar() {
  if (current) {
    const {account, chainId, info} = current;
    if (chainId !== market.chain_id) {
      say("wrong-chain", `Connected as ${account} through ${info.name}, but your wallet is on ${chainName(chainId)}; `
          + `this market is on chain ${market.chain_id} (${market.chain_name}). Switch to act here.`,
          el("button", {"data-action": "switch-chain", onclick: switchChain, text: `Switch to chain ${market.chain_id}`}));
    } else {
      say("connected", `Connected as ${account} through ${info.name}, on chain ${chainId}.`,
          el("button", {class: "quiet", "data-action": "disconnect", onclick: disconnect, text: "disconnect"}));
    }
    return;
  }
  if (!wallets.length) {
    say("none", "No browser wallet found: this page is read-only. With an EIP-1193 wallet (MetaMask, Rabby, …) "
        + "you can vote, delegate, propose and withdraw here.");
    return;
  }
  say("disconnected", wallets.length > 1 ? "Several wallets found: choose one to act with." : "A wallet is available.",
      ...wallets.map((w) => el("button", {"data-action": "connect", "data-wallet": w.info.rdns || w.info.uuid,
                                          onclick: () => connect(w), text: `Connect ${w.info.name}`})));
}

function chainName(id) {
  const known = {1: "Ethereum mainnet", 10: "OP Mainnet", 137: "Polygon", 8453: "Base", 42161: "Arbitrum One",
                 11155111: "Sepolia", 17000: "Holesky", 31337: "anvil, a local dev chain"};
  return `chain ${id}` + (known[id] ? ` (${known[id]})` : "");
}

async function connect(w, silently = false) {
  try {
    const accounts = await w.provider.request({method: silently ? "eth_accounts" : "eth_requestAccounts"});
    if (!accounts || !accounts.length) { if (!silently) say("disconnected", "The wallet gave no account."); return; }
    const chainId = Number(await w.provider.request({method: "eth_chainId"}));
    const account = getAddress(accounts[0]);
    current = {info: w.info, provider: w.provider, account, chainId, c: clients(w.provider, account, market)};
    localStorage.setItem(REMEMBER, w.info.rdns || w.info.uuid);
    if (!w.listening && typeof w.provider.on === "function") {
      w.listening = true;
      w.provider.on("accountsChanged", (list) => (current && current.provider === w.provider) && changed(w, list, null));
      w.provider.on("chainChanged", (id) => (current && current.provider === w.provider) && changed(w, null, id));
    }
    render();
  } catch (error) {
    if (!silently) {
      say(error?.code === 4001 ? "rejected" : "error", error?.code === 4001
          ? "You declined to connect: the page stays read-only." : `The wallet did not connect: ${error?.message || error}`,
          ...wallets.map((x) => el("button", {"data-action": "connect", onclick: () => connect(x), text: `Connect ${x.info.name}`})));
    }
  }
}

function changed(w, accounts, chainId) {
  if (accounts) {
    if (!accounts.length) { current = null; render(); return; }
    current.account = getAddress(accounts[0]);
  }
  if (chainId !== null) current.chainId = Number(chainId);
  current.c = clients(w.provider, current.account, market);
  render();
}

function disconnect() {
  localStorage.removeItem(REMEMBER);
  current = null;
  render();
}

async function switchChain() {
  const chainId = "0x" + market.chain_id.toString(16);
  try {
    await current.provider.request({method: "wallet_switchEthereumChain", params: [{chainId}]});
  } catch (error) {
    if (error?.code === 4902 && market.rpc_url) {  // the wallet does not know the chain: offer to add it
      try {
        await current.provider.request({method: "wallet_addEthereumChain", params: [{chainId,
          chainName: `DataBright (${market.chain_name})`, rpcUrls: [market.rpc_url],
          nativeCurrency: {name: "Ether", symbol: "ETH", decimals: 18}}]});
      } catch (again) {
        status.step("error", `The wallet did not add chain ${market.chain_id}: ${again?.message || again}`);
        return;
      }
    } else {
      status.step(error?.code === 4001 ? "rejected" : "error", error?.code === 4001
        ? "You declined to switch chains." : `The wallet did not switch: ${error?.message || error}`);
      return;
    }
  }
  current.chainId = Number(await current.provider.request({method: "eth_chainId"}));
  render();
}

function ready() {
  return current && current.chainId === market.chain_id && !busy;
}

async function act(label, call) {
  if (!ready()) return;
  busy = true;
  renderActions();
  try {
    await send(current.c, status, label, call);
  } finally {
    busy = false;
    renderActions();
    await refreshMine();
  }
}

function button(action, text, onclick) {
  return el("button", {"data-action": action, text, onclick, disabled: !ready()});
}

function renderActions() {
  if (!current) { actions.replaceChildren(); return; }
  if (!actions.childElementCount) {  // built once: a re-render would lose a reason being typed, or the samples shown
    if (page.kind === "proposal") actions.append(proposalActions());
    if (page.kind === "request") actions.append(proposeForm());
  }
  for (const b of panel.querySelectorAll("button[data-action]")) {
    if (!["switch-chain", "disconnect", "connect"].includes(b.dataset.action)) b.disabled = !ready();
  }
}

function proposalActions() {
  const id = BigInt(page.proposal);
  const reason = el("input", {"data-k": "reason", type: "text", maxlength: "512", size: "48",
                              placeholder: "reason (kept on-chain in the VoteCast event)"});
  const vote = (support) => () => act(`vote ${support ? "yes" : "no"} on proposal #${id}`, {
    contract: "DataAssociation", address: market.association, functionName: "castVoteWithReason",
    args: [id, support ? 1 : 0, reason.value]});
  const box = el("div", {class: "samples-box", "data-k": "samples", "data-state": "idle"});
  return el("div", {class: "action-group"},
    el("h3", {text: `Proposal #${id}`}),
    el("div", {class: "row"}, reason, button("vote-yes", "vote yes", vote(true)), button("vote-no", "vote no", vote(false)),
       button("execute", "execute", () => act(`execute proposal #${id}`, {
         contract: "DataAssociation", address: market.association, functionName: "execute", args: [id]}))),
    page.cid ? el("div", {class: "row"},
      button("view-samples", "view the proposed samples (your wallet signs the store's read request)",
             () => current && showSamples(current.c, market, page.cid, box))) : null,
    box);
}

function proposeForm() {
  const cid = el("input", {"data-k": "propose-cid", type: "text", size: "62", placeholder: "CID of data you uploaded (b…)"});
  const samples = el("input", {"data-k": "propose-samples", type: "number", min: "1", step: "1", placeholder: "samples"});
  const asked = el("input", {"data-k": "propose-shares", type: "text", size: "10", placeholder: "shares asked"});
  const propose = () => {
    let args;
    try {
      const digest = digestOfCid(cid.value);
      if (!/^[1-9][0-9]*$/.test(samples.value.trim())) throw new Error("the number of samples is a whole number from 1");
      if (!/^[0-9]+(\.[0-9]{1,18})?$/.test(asked.value.trim())) throw new Error("shares are a number such as 2.5");
      args = [page.database, digest, BigInt(samples.value.trim()), parseUnits(asked.value.trim(), 18)];
    } catch (error) {
      status.step("signing", "propose: checking the form…");
      status.step("error", `propose: ${error.message}.`);
      return;
    }
    act("propose data", {contract: "DataAssociation", address: market.association, functionName: "propose", args});
  };
  return el("div", {class: "action-group"}, el("h3", {text: "Propose data already in the store"}),
    el("div", {class: "row"}, cid, samples, asked, button("propose", "propose", propose)));
}

async function refreshMine() {
  if (!current) { mine.replaceChildren(); return; }
  const account = current.account;
  let view;
  try {
    const answer = await fetch(`/api/accounts/${account}`, {cache: "no-store"});
    if (!answer.ok) throw new Error((await answer.json()).error);
    view = await answer.json();
  } catch (error) {
    mine.replaceChildren(el("p", {class: "notice", text: `Your account could not be read: ${error.message}`}));
    return;
  }
  if (!current || current.account !== account) return;
  mine.dataset.block = String(view.block);
  mine.dataset.account = account;
  renderAccount(mine, view, {account, market, button, act, status});
}

function render() {
  renderBar();
  renderActions();
  refreshMine();
}

document.addEventListener("databright:block", () => { if (current && !busy) refreshMine(); });

const list = discover((found) => { wallets = found; if (!current) render(); });
wallets = list();
setTimeout(async () => {
  wallets = list();
  const remembered = localStorage.getItem(REMEMBER);
  const again = wallets.find((w) => (w.info.rdns || w.info.uuid) === remembered);
  if (again && !current) await connect(again, true);
  if (!current) render();
}, 200);
