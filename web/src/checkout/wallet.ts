// "Pay with browser wallet" over EIP-1193 (window.ethereum) and deep links for mobile wallets.
import type { Checkout } from "./api";

interface Eip1193 {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

declare global {
  interface Window {
    ethereum?: Eip1193;
  }
}

export function injectedProvider(): Eip1193 | null {
  return typeof window.ethereum?.request === "function" ? window.ethereum : null;
}

const pad32 = (hex: string) => hex.padStart(64, "0");

/** ABI-encoded ERC-20 transfer(address,uint256): selector 0xa9059cbb + to + amount. */
export function transferData(to: string, units: string): string {
  return "0xa9059cbb" + pad32(to.toLowerCase().replace(/^0x/, "")) + pad32(BigInt(units).toString(16));
}

const UNRECOGNIZED_CHAIN = 4902;

// What a wallet that does not know the chain is asked to add (EIP-3085).
const KNOWN_CHAINS: Record<number, object> = {
  56: {
    chainName: "BNB Smart Chain",
    nativeCurrency: { name: "BNB", symbol: "BNB", decimals: 18 },
    rpcUrls: ["https://bsc-dataseed.bnbchain.org"],
    blockExplorerUrls: ["https://bscscan.com"],
  },
  97: {
    chainName: "BNB Smart Chain Testnet",
    nativeCurrency: { name: "tBNB", symbol: "tBNB", decimals: 18 },
    rpcUrls: ["https://bsc-testnet-dataseed.bnbchain.org"],
    blockExplorerUrls: ["https://testnet.bscscan.com"],
  },
};

/** Asks the wallet for an account, the right chain, then the token transfer; returns the tx hash. */
export async function payWithWallet(p: Checkout, provider: Eip1193): Promise<string> {
  const accounts = (await provider.request({ method: "eth_requestAccounts" })) as string[];
  const from = accounts[0];
  const chainId = "0x" + p.chain_id.toString(16);
  try {
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch (err) {
    const known = KNOWN_CHAINS[p.chain_id];
    if ((err as { code?: number }).code !== UNRECOGNIZED_CHAIN || !known) throw err;
    await provider.request({ method: "wallet_addEthereumChain", params: [{ chainId, ...known }] });
  }
  return (await provider.request({
    method: "eth_sendTransaction",
    params: [{ from, to: p.token_address, value: "0x0", data: transferData(p.address, p.amount_units) }],
  })) as string;
}

/** Links that open the payment in a mobile wallet app (they carry the EIP-681 request). */
export function deepLinks(p: Checkout): { name: string; href: string }[] {
  const request = p.eip681.replace(/^ethereum:/, "");
  const trust = new URL("https://link.trustwallet.com/send");
  trust.search = new URLSearchParams({
    coin: "20000714", // Trust Wallet's id for BNB Smart Chain
    token_id: p.token_address,
    address: p.address,
    amount: p.amount_remaining,
  }).toString();
  return [
    { name: "MetaMask", href: `https://metamask.app.link/send/${request}` },
    { name: "Trust Wallet", href: trust.toString() },
  ];
}
