"""Commands of the data market: requests, proposals, votes, delegation, shares, dividends."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from web3 import Web3

from databright.chain.contracts import ProposalKind, Rules
from databright.cid import cid_from_digest, digest_from_cid
from databright.cli.common import console, errors_to_exit, market, short, store_client
from databright.datasets import DatasetSpec
from databright.errors import ConfigError
from databright.market import Holding
from databright.market.data import publish_spec
from databright.market.units import format_amount, parse_amount

request_app = typer.Typer(help="Open and inspect data requests.", no_args_is_help=True)
dividends_app = typer.Typer(help="See, pay and withdraw dividends.", no_args_is_help=True)

RequestArg = Annotated[str, typer.Argument(help="The request: its index (see `request list`) or database address.")]


def _percent_to_bps(text: str, what: str) -> int:
    value = text.strip().rstrip("%")
    try:
        bps = round(float(value) * 100)
    except ValueError as exc:
        raise ConfigError(f"{what} must be a percentage such as 20 or 50.01%, not {text!r}") from exc
    if not 0 <= bps <= 10_000:
        raise ConfigError(f"{what} must be between 0 and 100 percent, not {text!r}")
    return bps


def _curators(pairs: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for pair in pairs:
        address, sep, shares = pair.partition("=")
        if not sep or not Web3.is_address(address):
            raise ConfigError(f"--curator takes ADDRESS=SHARES, not {pair!r}")
        out[str(Web3.to_checksum_address(address))] = parse_amount(shares, "curator shares")
    return out


@request_app.command("create")
@errors_to_exit
def request_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the request (and of its share token).")],
    spec: Annotated[str, typer.Option(help="The spec: a JSON file (uploaded to the store) or the CID of one stored.")],
    curator: Annotated[list[str], typer.Option(help="Bootstrap curator as ADDRESS=SHARES; repeat.")],
    validation: Annotated[Path | None, typer.Option(
        help="Validation set (checked against the spec, uploaded encrypted; for curators and coordinators).")] = None,
    symbol: Annotated[str, typer.Option(help="Ticker of the share token.")] = "DATA",
    quorum: Annotated[str, typer.Option(help="Votes cast needed, % of shares at the snapshot.")] = "20",
    approval: Annotated[str, typer.Option(help="Share of votes cast that must say yes, %.")] = "50.01",
    period: Annotated[int, typer.Option(help="Voting period in blocks.")] = 10,
    max_shares: Annotated[str, typer.Option(help="Most shares one proposal may ask for.")] = "1000",
    value_share: Annotated[str, typer.Option(
        help="Part of every job's data fee paid by the measured value of each contributor's data, %.")] = "50",
) -> None:
    """Open a data request with its spec, validation set, bootstrap curators and voting rules."""
    rules = Rules(_percent_to_bps(quorum, "quorum"), _percent_to_bps(approval, "approval"), period,
                  parse_amount(max_shares, "max shares"), _percent_to_bps(value_share, "value share"))
    curators = _curators(curator)
    m = market(ctx)
    spec_path = Path(spec)
    if spec_path.is_file():
        parsed = DatasetSpec.from_bytes(spec_path.read_bytes(), source=str(spec_path))
        with store_client(ctx, m) as store:
            spec_cid, parsed = publish_spec(store, parsed, validation)
        if parsed.validation_cid:
            console.print(f"validation set stored as {parsed.validation_cid}")
        console.print(f"spec stored as {spec_cid}")
    elif validation is not None:
        raise ConfigError("--validation needs --spec to be a JSON file (the spec names the validation set)")
    else:
        digest_from_cid(spec)  # a stored spec named by its CID; refuse anything else clearly
        spec_cid = spec
    info = m.create_request(name, symbol, spec_cid, curators, rules)
    console.print(f"request #{info.index} [bold]{info.name}[/] opened: database {info.database}, "
                  f"token {info.token} ({info.symbol})")


@request_app.command("list")
@errors_to_exit
def request_list(ctx: typer.Context) -> None:
    """List the market's requests."""
    table = Table("#", "name", "database", "entries", "shares", "quorum", "approval", "period")
    for r in market(ctx).requests():
        table.add_row(str(r.index), r.name, r.database, str(r.entries), format_amount(r.total_supply),
                      f"{r.rules.quorum_bps / 100:g}%", f"{r.rules.approval_bps / 100:g}%",
                      f"{r.rules.voting_period} blocks")
    console.print(table)


@request_app.command("show")
@errors_to_exit
def request_show(ctx: typer.Context, request: RequestArg) -> None:
    """Show a request: rules, registry entries and shareholders."""
    m = market(ctx)
    r = m.request(m.resolve_request(request))
    console.print(f"[bold]#{r.index} {r.name}[/] ({r.symbol})  database {r.database}  token {r.token}")
    console.print(f"spec {r.spec_cid}")
    console.print(f"rules: quorum {r.rules.quorum_bps / 100:g}%, approval {r.rules.approval_bps / 100:g}%, "
                  f"voting period {r.rules.voting_period} blocks, max {format_amount(r.rules.max_shares)} "
                  f"shares per proposal; {r.rules.value_share_bps / 100:g}% of each job's data fee paid by the "
                  "measured value of the data, the rest as dividends")
    entries = Table("entry", "cid", "contributor", "samples", "shares", "proposal", title="registry")
    for e in m.entries(r.database):
        entries.add_row(str(e.index), cid_from_digest(e.cid_digest), short(e.contributor), str(e.samples),
                        format_amount(e.shares), str(e.proposal_id))
    console.print(entries)
    _print_holdings(m.holdings(r.database), r.total_supply)


def _print_holdings(holdings: list[Holding], supply: int) -> None:
    table = Table("account", "shares", "%", "votes", "delegate", "withdrawable ETH", "withdrawn ETH",
                  title="shareholders")
    for h in holdings:
        pct = 100 * h.balance / supply if supply else 0.0
        delegate = "-" if int(h.delegate, 16) == 0 else ("self" if h.delegate == h.account else short(h.delegate))
        table.add_row(h.account, format_amount(h.balance), f"{pct:.1f}", format_amount(h.votes), delegate,
                      format_amount(h.withdrawable, 6), format_amount(h.withdrawn, 6))
    console.print(table)


@errors_to_exit
def propose(
    ctx: typer.Context,
    request: RequestArg,
    cid: Annotated[str, typer.Argument(help="CID of the dataset (CIDv1 raw sha2-256).")],
    samples: Annotated[int, typer.Option(help="Number of samples in the dataset.")],
    shares: Annotated[str, typer.Option(help="Shares asked for in return.")],
) -> None:
    """Propose a dataset for a request, asking for shares."""
    m = market(ctx)
    pid = m.propose(m.resolve_request(request), cid, samples, parse_amount(shares, "shares"))
    p = m.proposal(pid)
    console.print(f"proposal [bold]{pid}[/] open until block {p.deadline} (votes weighed at block {p.snapshot})")


@errors_to_exit
def proposals(
    ctx: typer.Context,
    request: Annotated[str | None, typer.Option(help="Only this request's proposals.")] = None,
) -> None:
    """List proposals with their tallies and states."""
    m = market(ctx)
    database = m.resolve_request(request) if request is not None else None
    names = {r.database: f"#{r.index} {r.name}" for r in m.requests()}
    table = Table("id", "request", "kind", "proposer", "what", "shares", "for", "against", "state", "deadline")
    for p in m.proposals(database):
        if p.kind is ProposalKind.DATA:
            what = f"{cid_from_digest(p.body)[:16]}… ({p.samples} samples)"
        else:
            rules = p.new_rules()
            if rules is None:  # a rules proposal always carries its rules
                raise ConfigError(f"proposal {p.id}: a rules proposal without rules")
            what = (f"rules: quorum {rules.quorum_bps / 100:g}%, approval {rules.approval_bps / 100:g}%, "
                    f"period {rules.voting_period}, max {format_amount(rules.max_shares)}, "
                    f"value share {rules.value_share_bps / 100:g}%")
        table.add_row(str(p.id), names.get(p.database, p.database), p.kind.name.lower(), short(p.proposer),
                      what, format_amount(p.shares), format_amount(p.votes_for), format_amount(p.votes_against),
                      p.state.name.lower(), str(p.deadline))
    console.print(table)
    console.print(f"current block: {m.chain.w3.eth.block_number}")


@errors_to_exit
def vote(
    ctx: typer.Context,
    proposal: Annotated[int, typer.Argument(help="Proposal id.")],
    choice: Annotated[str, typer.Argument(help="yes or no.")],
    reason: Annotated[str, typer.Option(help="Why; kept on-chain with the vote.")] = "",
) -> None:
    """Vote yes or no on a proposal with the shares delegated to you at its snapshot."""
    choices = {"yes": True, "y": True, "for": True, "no": False, "n": False, "against": False}
    if choice.lower() not in choices:
        raise ConfigError(f"vote yes or no, not {choice!r}")
    weight = market(ctx).vote(proposal, choices[choice.lower()], reason)
    console.print(f"voted {choice.lower()} on proposal {proposal} with {format_amount(weight)} shares")


@errors_to_exit
def execute(ctx: typer.Context, proposal: Annotated[int, typer.Argument(help="Proposal id.")]) -> None:
    """Carry out a proposal that passed (register the data and mint shares, or apply rules)."""
    m = market(ctx)
    m.execute(proposal)
    p = m.proposal(proposal)
    if p.kind is ProposalKind.DATA:
        console.print(f"proposal {proposal} executed: {format_amount(p.shares)} shares minted to {p.proposer}")
    else:
        console.print(f"proposal {proposal} executed: new rules {p.new_rules()}")


@errors_to_exit
def delegate(
    ctx: typer.Context,
    request: RequestArg,
    to: Annotated[str | None, typer.Argument(help="Delegate (an address); default: yourself.")] = None,
) -> None:
    """Give your voting power in a request to someone (an oracle, say) or to yourself."""
    m = market(ctx)
    target = m.delegate(m.resolve_request(request), to)
    console.print(f"{m.account} now delegates to {'itself' if target == m.account else target}")


@errors_to_exit
def undelegate(ctx: typer.Context, request: RequestArg) -> None:
    """Take your voting power back (your shares stop voting until you delegate again)."""
    m = market(ctx)
    m.undelegate(m.resolve_request(request))
    console.print(f"{m.account} no longer delegates its votes")


@errors_to_exit
def shares(ctx: typer.Context, request: RequestArg) -> None:
    """Show a request's shareholders, votes and dividends."""
    m = market(ctx)
    database = m.resolve_request(request)
    _print_holdings(m.holdings(database), m.token(database).total_supply())


@dividends_app.command("show")
@errors_to_exit
def dividends_show(ctx: typer.Context, request: RequestArg) -> None:
    """Your dividends in a request, and your value payouts from its jobs not claimed yet."""
    from databright.compute.value_audit import unclaimed

    m = market(ctx)
    database = m.resolve_request(request)
    h = m.holding(database)
    console.print(f"{h.account}: {format_amount(h.balance)} shares, withdrawable "
                  f"{format_amount(h.withdrawable, 6)} ETH, withdrawn {format_amount(h.withdrawn, 6)} ETH")
    if m.deployment.compute_market:
        with store_client(ctx, m) as store:
            owed = unclaimed(m, store, database, h.account)
        total = sum(u.amount for u in owed)
        jobs = ", ".join(f"job {u.job_id}: {format_amount(u.amount, 6)}" for u in owed)
        console.print(f"value payouts unclaimed {format_amount(total, 6)} ETH" + (f" ({jobs}); "
                      "`databright value claim JOB` claims one" if owed else ""))


@dividends_app.command("withdraw")
@errors_to_exit
def dividends_withdraw(ctx: typer.Context, request: RequestArg) -> None:
    """Withdraw your dividends in a request."""
    m = market(ctx)
    wei = m.withdraw(m.resolve_request(request))
    console.print(f"withdrew {format_amount(wei, 6)} ETH to {m.account}")


@dividends_app.command("pay")
@errors_to_exit
def dividends_pay(
    ctx: typer.Context,
    request: RequestArg,
    ether: Annotated[str, typer.Argument(help="Ether to pay to all shareholders, pro rata.")],
) -> None:
    """Pay ether to a request's shareholders as dividends (what the compute market does)."""
    m = market(ctx)
    wei = parse_amount(ether, "ether")
    if wei == 0:
        raise ConfigError("pay more than 0 ether")
    m.distribute(m.resolve_request(request), wei)
    console.print(f"paid {format_amount(wei, 6)} ETH to the shareholders")


def register(app: typer.Typer) -> None:
    """Adds the data-market commands to the top-level app."""
    app.add_typer(request_app, name="request")
    app.add_typer(dividends_app, name="dividends")
    for command in (propose, proposals, vote, execute, delegate, undelegate, shares):
        app.command()(command)
