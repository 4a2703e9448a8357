/**
 * Addresses of the organiser's downloads (`GET /admin/export/...`). The login cookie
 * authenticates a plain GET, so these work as ordinary links.
 */

export type ExportFormat = "csv" | "json";

/** Winners (the live board, staff and hidden drawings left out), optionally only the top N. */
export function winnersUrl(eventId: string, format: ExportFormat, top?: number | null): string {
  const query = top != null && Number.isInteger(top) && top > 0 ? `?top=${top}` : "";
  return `/admin/export/${encodeURIComponent(eventId)}/winners.${format}${query}`;
}

/** Every submission of the event, hidden ones included. */
export function submissionsUrl(eventId: string, format: ExportFormat): string {
  return `/admin/export/${encodeURIComponent(eventId)}/submissions.${format}`;
}

/** Every drawing of the event and a CSV manifest of them, as one zip. */
export function drawingsUrl(eventId: string): string {
  return `/admin/export/${encodeURIComponent(eventId)}/drawings.zip`;
}

/** The audit log, of one event or of everything. */
export function auditUrl(format: ExportFormat, eventId?: string | null): string {
  const query = eventId ? `?eventId=${encodeURIComponent(eventId)}` : "";
  return `/admin/export/audit.${format}${query}`;
}
