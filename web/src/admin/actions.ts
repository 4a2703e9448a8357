/**
 * The organiser's actions as the console's buttons run them: asking first where an
 * action feels irreversible, then saying how it went. Each resolves to what the server
 * answered, or null when cancelled or refused.
 */
import { REVEAL_PROMPTS } from "../operations";
import type { ModeratedSubmission, OrganiserEvent, Player } from "../types";
import { act, ask } from "./feedback";
import { call, eventAction, moderatePlayer, moderateSubmission } from "./organiser";
import { textNow as t, type AdminKey } from "./text";

export function hide(submission: Pick<ModeratedSubmission, "id" | "nickname">): Promise<ModeratedSubmission | null> {
  return act(
    () => moderateSubmission("hideSubmission", submission.id),
    () => t("admin.done.hidden", { name: submission.nickname }),
  );
}

export function unhide(submission: Pick<ModeratedSubmission, "id" | "nickname">): Promise<ModeratedSubmission | null> {
  return act(
    () => moderateSubmission("unhideSubmission", submission.id),
    () => t("admin.done.unhidden", { name: submission.nickname }),
  );
}

export function approve(submission: Pick<ModeratedSubmission, "id" | "nickname">): Promise<ModeratedSubmission | null> {
  return act(
    () => moderateSubmission("approveSubmission", submission.id),
    () => t("admin.done.approved", { name: submission.nickname }),
  );
}

/** Ban after a confirmation that can carry a reason for the audit log. */
export async function ban(participantId: string | (() => Promise<string>), nickname: string): Promise<Player | null> {
  const answer = await ask({
    title: t("admin.ban.title", { name: nickname }),
    body: t("admin.ban.body"),
    confirm: t("admin.ban.confirm"),
    danger: true,
    reasonLabel: t("admin.reason"),
  });
  if (!answer) return null;
  return act(
    async () => {
      const id = typeof participantId === "string" ? participantId : await participantId();
      return moderatePlayer("banParticipant", id, { reason: answer.reason });
    },
    () => t("admin.done.banned", { name: nickname }),
  );
}

export function unban(participantId: string, nickname: string): Promise<Player | null> {
  return act(
    () => moderatePlayer("unbanParticipant", participantId),
    () => t("admin.done.unbanned", { name: nickname }),
  );
}

export function markStaff(
  participantId: string | (() => Promise<string>),
  nickname: string,
  staff: boolean,
): Promise<Player | null> {
  return act(
    async () => {
      const id = typeof participantId === "string" ? participantId : await participantId();
      return moderatePlayer("setStaff", id, { staff });
    },
    () => t(staff ? "admin.done.staff" : "admin.done.notStaff", { name: nickname }),
  );
}

const EVENT_CONFIRMS: Partial<Record<Parameters<typeof eventAction>[0], { title: AdminKey; body: AdminKey; confirm: AdminKey; danger?: boolean }>> = {
  closeEvent: { title: "admin.close.title", body: "admin.close.body", confirm: "admin.close.confirm", danger: true },
  setCurrentEvent: { title: "admin.current.title", body: "admin.current.body", confirm: "admin.current.confirm" },
  unfreezeLeaderboard: { title: "admin.unfreeze.title", body: "admin.unfreeze.body", confirm: "admin.unfreeze.confirm" },
};

const EVENT_DONE: Record<Parameters<typeof eventAction>[0], AdminKey> = {
  openEvent: "admin.done.opened",
  closeEvent: "admin.done.closed",
  setCurrentEvent: "admin.done.current",
  freezeLeaderboard: "admin.done.frozen",
  unfreezeLeaderboard: "admin.done.unfrozen",
};

/** Open, close, make current, freeze or unfreeze an event (asking first where it matters). */
export async function onEvent(
  action: Parameters<typeof eventAction>[0],
  event: Pick<OrganiserEvent, "id" | "title">,
): Promise<OrganiserEvent | null> {
  const confirm = EVENT_CONFIRMS[action];
  if (confirm) {
    const answer = await ask({
      title: t(confirm.title, { title: event.title }),
      body: t(confirm.body, { title: event.title }),
      confirm: t(confirm.confirm),
      danger: confirm.danger,
    });
    if (!answer) return null;
  }
  return act(() => eventAction(action, event.id), () => t(EVENT_DONE[action], { title: event.title }));
}

/** Show the prompts of the best `top` entries on every board (asking first), or with
 * 0 make them private again. */
export async function revealPrompts(
  event: Pick<OrganiserEvent, "id" | "title">,
  top: number,
): Promise<OrganiserEvent | null> {
  if (top > 0) {
    const answer = await ask({
      title: t("admin.reveal.ask", { n: top }),
      body: t("admin.reveal.askBody", { n: top, title: event.title }),
      confirm: t("admin.reveal.confirm"),
    });
    if (!answer) return null;
  }
  return act(
    async () => (await call<{ revealPrompts: OrganiserEvent }>(REVEAL_PROMPTS, { eventId: event.id, top })).revealPrompts,
    () => (top > 0 ? t("admin.done.revealed", { n: top, title: event.title }) : t("admin.done.unrevealed", { title: event.title })),
  );
}
