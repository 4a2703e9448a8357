/**
 * The share card an attendee saves from the phone: a PNG of their drawing beside the
 * target, with the score, their rank, the event's title and the address of the results.
 * Drawn on a canvas from same-origin pictures, so nothing leaves the phone to make it.
 * It never carries the prompt: prompts stay private until the organisers reveal them.
 */
import { percent } from "../format";
import type { Translate } from "../i18n";
import type { ContestEvent, Participant, Submission } from "../types";

export const CARD_WIDTH = 1200;
export const CARD_HEIGHT = 630;

export interface ShareCard {
  title: string;
  nickname: string;
  score: string;
  rank: string | null;
  url: string;
  drawingUrl: string;
  targetUrl: string;
  labels: { similarity: string; drawing: string; target: string };
}

/**
 * The card of a drawn submission: what it shows, chosen field by field (no prompt).
 * None for a hidden picture or a copy (another player's drawing): neither goes public.
 */
export function shareCardOf(
  submission: Submission,
  me: Participant,
  event: ContestEvent,
  resultsUrl: string,
  t: Translate,
): ShareCard | null {
  if (submission.status !== "DONE" || !submission.imageUrl || submission.hidden || submission.copied) return null;
  return {
    title: event.title,
    nickname: me.nickname,
    score: percent(submission.score),
    rank: me.rank != null ? t("share.rank", { rank: me.rank, total: Math.max(event.participantCount, me.rank) }) : null,
    url: resultsUrl.replace(/^https?:\/\//, ""),
    drawingUrl: submission.imageUrl,
    targetUrl: event.targetImageUrl,
    labels: { similarity: t("result.similarity"), drawing: t("share.myDrawing"), target: t("play.target") },
  };
}

/** Every piece of text the card shows. */
export function cardText(card: ShareCard): string[] {
  const { labels } = card;
  return [card.title, card.nickname, card.score, card.rank ?? "", card.url, labels.similarity, labels.drawing, labels.target, "Lookalike"];
}

const PICTURE = 380;
const MARGIN = 50;

/** The card as a PNG. */
export async function drawShareCard(card: ShareCard): Promise<Blob> {
  const canvas = document.createElement("canvas");
  canvas.width = CARD_WIDTH;
  canvas.height = CARD_HEIGHT;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2D canvas");
  const family = getComputedStyle(document.body).fontFamily;
  const font = (weight: number, size: number) => `${weight} ${size}px ${family}`;
  // The web font's slices for these characters (Korean names) before drawing text.
  await document.fonts.load(font(800, 40), cardText(card).join(" "));
  const [drawing, target] = await Promise.all([loadImage(card.drawingUrl), loadImage(card.targetUrl)]);

  const background = ctx.createLinearGradient(0, 0, CARD_WIDTH, CARD_HEIGHT);
  background.addColorStop(0, "#1d2a6b");
  background.addColorStop(1, "#0b1026");
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, CARD_WIDTH, CARD_HEIGHT);

  const text = (value: string, x: number, y: number, style: string, colour: string, maxWidth: number) => {
    ctx.font = style;
    ctx.fillStyle = colour;
    ctx.fillText(fitted(ctx, value, maxWidth), x, y);
  };
  const top = 110;
  text(card.title, MARGIN, 72, font(800, 40), "#f5f7ff", CARD_WIDTH - 2 * MARGIN - 220);
  ctx.textAlign = "right";
  text("Lookalike", CARD_WIDTH - MARGIN, 72, font(800, 32), "#ffd54a", 220);
  ctx.textAlign = "left";
  [drawing, target].forEach((picture, index) => {
    const x = MARGIN + index * (PICTURE + 30);
    ctx.drawImage(picture, x, top, PICTURE, PICTURE);
    text(index === 0 ? card.labels.drawing : card.labels.target, x, top + PICTURE + 40, font(600, 26), "#aab3d9", PICTURE);
  });
  const column = MARGIN + 2 * PICTURE + 30 + 40;
  const width = CARD_WIDTH - column - MARGIN;
  text(card.labels.similarity, column, top + 40, font(600, 28), "#aab3d9", width);
  text(card.score, column, top + 110, font(800, 60), "#5ce1e6", width);
  if (card.rank) text(card.rank, column, top + 180, font(700, 32), "#ffd54a", width);
  text(card.nickname, column, top + 240, font(700, 30), "#f5f7ff", width);
  text(card.url, MARGIN, CARD_HEIGHT - 28, font(600, 26), "#5ce1e6", CARD_WIDTH - 2 * MARGIN);

  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the card could not be encoded"))), "image/png");
  });
}

/** `value`, cut with an ellipsis to fit `maxWidth` in the current font. */
function fitted(ctx: CanvasRenderingContext2D, value: string, maxWidth: number): string {
  if (ctx.measureText(value).width <= maxWidth) return value;
  const chars = [...value];
  while (chars.length > 0 && ctx.measureText(`${chars.join("")}…`).width > maxWidth) chars.pop();
  return `${chars.join("")}…`;
}

async function loadImage(url: string): Promise<HTMLImageElement> {
  const image = new Image();
  image.src = url;
  await image.decode();
  return image;
}

/** Hand the file to the browser as a download. */
export function saveFile(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its own copy once it has started.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
