/* The connected account as the chain has it (`/api/accounts/ADDRESS`, read by the dashboard at one
 * block): shares, votes and delegate per request with the actions on them, open proposals, worker pay,
 * value payouts in jobs (claimed with the proof the dashboard rebuilt from the job's value report).
 * `ctx` gives what acting needs: {account, market, button(action, text, onclick), act(label, call), status}. */

import {getAddress, isAddress} from "viem";
import {el, eth, shares, short} from "./dom.js";

const ZERO = "0x0000000000000000000000000000000000000000";

/** Replaces `mine`'s content with `view`, keeping any delegate address being typed. */
export function renderAccount(mine, view, ctx) {
  const {account, market, button, act} = ctx;
  const rows = view.requests.filter((r) => BigInt(r.balance) || BigInt(r.votes) || BigInt(r.withdrawable_wei) || r.delegate);
  const table = el("table", {class: "compact"},
    el("thead", {}, el("tr", {}, ...["request", "your shares", "votes you hold", "your shares vote through",
                                      "dividends withdrawable", "withdrawn", ""].map((t) => el("th", {text: t})))),
    el("tbody", {}, ...rows.map((r) => requestRow(r, ctx)),
       rows.length ? null : el("tr", {}, el("td", {colspan: "7", class: "empty", text: "no shares or votes in any request"}))));
  const voted = view.open_proposals.map((p) => el("li", {"data-my-proposal": String(p.id)},
    el("a", {href: `/proposals/${p.id}`, text: `#${p.id}`}), " ",
    el("span", {"data-k": "voted", text: p.voted ? "voted, weight" : BigInt(p.weight) ? "not voted yet, your weight" : "no voting power at its snapshot"}),
    " ", BigInt(p.weight) ? el("span", {"data-k": "weight"}, shares(p.weight)) : null));
  const w = view.worker;
  const worker = (w.registered || BigInt(w.earnings_wei) || BigInt(w.withdrawable_wei)) ? el("p", {"data-k": "worker"},
    "As a worker: earned ", el("span", {"data-k": "earnings"}, eth(w.earnings_wei)), " for verified work; ",
    el("span", {"data-k": "worker-withdrawable"}, eth(w.withdrawable_wei)), " withdrawable (earnings, refunds, a returned stake); stake ",
    el("span", {"data-k": "stake"}, eth(w.stake_wei)), ". ",
    button("withdraw-earnings", "withdraw", () => act("withdraw from the compute market", {
      contract: "ComputeMarket", address: market.compute_market, functionName: "withdraw", args: []}))) : null;
  const values = view.value_payouts.map((v) => el("li", {"data-my-value": String(v.job)},
    el("a", {href: `/jobs/${v.job}`, text: `job #${v.job}`}), ": ",
    !v.readable ? el("span", {"data-k": "value-state", "data-state": "unreadable", text: v.reason})
      : el("span", {}, el("span", {"data-k": "value-amount"}, eth(v.amount_wei)), " ",
           el("span", {"data-k": "value-state", "data-state": v.claimed ? "claimed" : "unclaimed",
                       text: v.claimed ? "claimed" : "unclaimed"}), " ",
           v.claimed ? null : button("claim-value", "claim", () => act(`claim your value payout of job #${v.job}`, {
             contract: "ComputeMarket", address: market.compute_market, functionName: "claimValue",
             args: [BigInt(v.job), BigInt(v.amount_wei), v.proof]})))));
  const unclaimed = view.value_payouts.filter((v) => v.readable && !v.claimed)
    .reduce((sum, v) => sum + BigInt(v.amount_wei), 0n);
  const value = values.length ? el("div", {"data-k": "values"},
    el("span", {}, "Value payouts (what your data was worth to a job): ",
       el("span", {"data-k": "unclaimed-value"}, eth(unclaimed)), " unclaimed. "),
    el("ul", {class: "inline"}, ...values)) : null;
  const typed = Object.fromEntries([...mine.querySelectorAll("tr[data-token]")].map(
    (row) => [row.dataset.token, row.querySelector('[data-k="delegate-to"]').value]));
  mine.replaceChildren(...[el("h3", {text: `Your account at block ${view.block}`}), table,
    voted.length ? el("div", {}, el("span", {text: "Open proposals: "}), el("ul", {class: "inline"}, ...voted)) : null, worker, value].filter(Boolean));
  for (const row of mine.querySelectorAll("tr[data-token]")) {
    if (typed[row.dataset.token]) row.querySelector('[data-k="delegate-to"]').value = typed[row.dataset.token];
  }
}


function requestRow(r, {account, button, act, status}) {
  const to = el("input", {"data-k": "delegate-to", type: "text", size: "22", placeholder: "0x… (an oracle, a curator)"});
  const delegate = (target, label) => act(label, {contract: "CuratorToken", address: r.token, functionName: "delegate",
                                                  args: [target]});
  const delegateTo = () => {
    const target = to.value.trim();
    if (!isAddress(target)) {
      status.step("signing", "delegate: checking the address…");
      status.step("error", `delegate: ${JSON.stringify(target)} is not an address (0x and 40 hex digits).`);
      return;
    }
    delegate(getAddress(target), `delegate your ${r.symbol} votes to ${target}`);
  };
  return el("tr", {"data-my-request": String(r.index), "data-token": r.token},
    el("td", {}, el("a", {href: `/requests/${r.index}`, text: `#${r.index} ${r.name}`})),
    el("td", {class: "r", "data-k": "balance"}, shares(r.balance)),
    el("td", {class: "r", "data-k": "votes"}, shares(r.votes)),
    el("td", {"data-k": "delegate"}, r.delegate ? (r.delegate === account ? "yourself" : short(r.delegate))
                                                : el("span", {class: "muted", text: "nobody (they do not vote)"})),
    el("td", {class: "r", "data-k": "withdrawable"}, eth(r.withdrawable_wei)),
    el("td", {class: "r", "data-k": "withdrawn"}, eth(r.withdrawn_wei)),
    el("td", {class: "actions"},
      button("withdraw-dividends", "withdraw dividends", () => act(`withdraw ${r.symbol} dividends`, {
        contract: "CuratorToken", address: r.token, functionName: "withdrawDividend", args: []})),
      button("delegate-self", "vote myself", () => delegate(account, `delegate your ${r.symbol} votes to yourself`)),
      to, button("delegate", "delegate", delegateTo),
      button("undelegate", "undelegate", () => delegate(ZERO, `undelegate your ${r.symbol} votes`))));
}
