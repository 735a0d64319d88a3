/* Transactions through the visitor's wallet, with viem: simulate, ask the wallet to sign and send, wait.
 *
 * Every call is simulated first (`simulateContract`, an eth_call as the visitor), so a call the
 * contract would refuse shows the contract's own reason ("association: already voted") before the
 * wallet asks for a signature, and no gas is spent on it. ABIs come from the dashboard
 * (`/api/abi/NAME`, the compiled contracts), never written by hand.
 */

import {
  BaseError, ContractFunctionRevertedError, UserRejectedRequestError, createPublicClient, createWalletClient,
  custom, defineChain,
} from "viem";

const abis = {};

export async function abi(name) {
  if (!abis[name]) {
    const answer = await fetch(`/api/abi/${name}`);
    if (!answer.ok) throw new Error(`the dashboard did not give the ${name} ABI (${answer.status})`);
    abis[name] = (await answer.json()).abi;
  }
  return abis[name];
}

export function marketChain(market) {
  return defineChain({
    id: market.chain_id, name: market.chain_name,
    nativeCurrency: {name: "Ether", symbol: "ETH", decimals: 18},
    rpcUrls: {default: {http: market.rpc_url ? [market.rpc_url] : []}},
  });
}

export function clients(provider, account, market) {
  const chain = marketChain(market);
  const transport = custom(provider, {retryCount: 0});  // a refusal is an answer, not a fault to retry
  return {
    account,
    wallet: createWalletClient({account, chain, transport}),
    reader: createPublicClient({chain, transport, pollingInterval: 250}),
  };
}

/** What went wrong, in words, and which kind of failure it was (rejected, reverted, error). */
export function describe(error) {
  const base = error instanceof BaseError ? error : null;
  const rejected = base ? base.walk((e) => e instanceof UserRejectedRequestError || e?.code === 4001)
                        : (error?.code === 4001 ? error : null);
  if (rejected) return {state: "rejected", text: "You rejected the request in your wallet: nothing was sent."};
  const revert = base ? base.walk((e) => e instanceof ContractFunctionRevertedError) : null;
  if (revert) {
    const reason = revert.reason || revert.data?.errorName || revert.shortMessage;
    return {state: "reverted", text: `The contract refused: ${reason}.`};
  }
  return {state: "error", text: `Failed: ${base ? base.shortMessage : (error?.message || String(error))}`};
}

/** Simulates, sends through the wallet and waits for the receipt; reports each step to `status`. */
export async function send(c, status, label, {contract, address, functionName, args}) {
  status.step("signing", `${label}: checking with the chain, then asking your wallet to sign…`);
  try {
    const call = {address, abi: await abi(contract), functionName, args, account: c.account};
    const {request} = await c.reader.simulateContract(call);
    // Gas is estimated here, against the pending block, with a fifth more: an estimate at the latest block
    // runs with that block's number, and the tokens' vote checkpoints cost more in a new block than in the
    // one they were last written in (a delegation right after another one ran out of gas at the latest).
    const gas = await c.reader.estimateContractGas({...call, blockTag: "pending"});
    const hash = await c.wallet.writeContract({...request, gas: gas + gas / 5n});
    status.step("pending", `${label}: pending, transaction ${hash} sent, waiting for it to be mined…`, {hash});
    const receipt = await c.reader.waitForTransactionReceipt({hash, pollingInterval: 250});
    const block = receipt.blockNumber.toString();
    if (receipt.status !== "success") {
      status.step("reverted", `${label}: reverted on-chain in block ${block} (transaction ${hash}).`, {hash, block});
      return false;
    }
    status.step("mined", `${label}: mined in block ${block}, transaction ${hash}.`, {hash, block});
    return true;
  } catch (error) {
    const found = describe(error);
    status.step(found.state, `${label}: ${found.text}`);
    return false;
  }
}
