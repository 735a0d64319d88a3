/* Finding the visitor's wallets: EIP-6963 announcements, else the legacy `window.ethereum` (EIP-1193).
 *
 * Several wallet extensions in one browser each overwrite `window.ethereum`; EIP-6963 lets each
 * announce itself instead (an `eip6963:announceProvider` event with its name, icon and provider),
 * so the page can offer every wallet by name. Announcements may arrive at any time, so `discover`
 * calls `onChange` with the whole list each time one does.
 */

export function discover(onChange) {
  const found = new Map();
  const list = () => {
    const wallets = [...found.values()];
    if (!wallets.length && window.ethereum && typeof window.ethereum.request === "function") {
      wallets.push({info: {uuid: "window.ethereum", name: window.ethereum.isMetaMask ? "MetaMask" : "browser wallet",
                           rdns: "window.ethereum"}, provider: window.ethereum});
    }
    return wallets;
  };
  window.addEventListener("eip6963:announceProvider", (event) => {
    const detail = event.detail;
    if (!detail || !detail.info || !detail.provider || typeof detail.provider.request !== "function") return;
    found.set(detail.info.uuid, {info: detail.info, provider: detail.provider});
    onChange(list());
  });
  window.dispatchEvent(new Event("eip6963:requestProvider"));
  return list;
}
