// Symbol and decimals of an asset (`ETH` or a configured token's address) for display.
import { ref } from "vue";
import { api, ok, type Schemas } from "../api";

export function useAssets() {
  const tokens = ref<Schemas["TokenView"][]>([]);
  async function loadTokens() {
    tokens.value = await ok(api.GET("/api/tokens"));
  }
  function assetInfo(asset: string): { symbol: string; decimals: number } {
    if (asset === "ETH") return { symbol: "ETH", decimals: 18 };
    const tk = tokens.value.find((x) => x.address.toLowerCase() === asset.toLowerCase());
    return tk ? { symbol: tk.symbol, decimals: tk.decimals } : { symbol: asset, decimals: 0 };
  }
  return { tokens, loadTokens, assetInfo };
}
