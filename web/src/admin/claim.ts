/** A claim code as booth staff type it ("k7p 2qx") → as the server keeps it ("K7P2QX"). */
export function normaliseClaimCode(typed: string): string {
  return typed.replace(/[\s-]+/g, "").toUpperCase();
}
