import { useEffect, useState } from "preact/hooks";
import { useI18n } from "../i18n";

const RETRY_DELAYS_MS = [1_000, 3_000, 8_000];

interface Props {
  src: string | null | undefined;
  alt: string;
  class?: string;
  /** "eager" for the picture a page is about. */
  loading?: "eager" | "lazy";
}

type LoadState = "loading" | "loaded" | "failed";

interface Status {
  src: string | null | undefined;
  attempt: number;
  state: LoadState;
}

/**
 * An image that never becomes a grey blank square: it shows a shimmer while
 * loading, retries a few times after an error (flaky Wi-Fi), then says so.
 */
export function Picture({ src, alt, class: className = "", loading = "lazy" }: Props) {
  const { t } = useI18n();
  const [held, setHeld] = useState<Status>({ src, attempt: 0, state: "loading" });
  // A new src starts over; derived during render so a fast (cached) load is never lost.
  const status: Status = held.src === src ? held : { src, attempt: 0, state: "loading" };
  const { attempt, state } = status;

  useEffect(() => {
    if (state !== "failed" || attempt >= RETRY_DELAYS_MS.length) return undefined;
    const timer = setTimeout(() => setHeld({ src, attempt: attempt + 1, state: "loading" }), RETRY_DELAYS_MS[attempt]);
    return () => clearTimeout(timer);
  }, [src, state, attempt]);

  const exhausted = state === "failed" && attempt >= RETRY_DELAYS_MS.length;
  const url = src && attempt > 0 ? `${src}${src.includes("?") ? "&" : "?"}retry=${attempt}` : src;
  const settle = (next: LoadState) => setHeld({ src, attempt, state: next });

  return (
    <div class={`picture picture--${src ? (exhausted ? "failed" : state) : "empty"} ${className}`}>
      {src && !exhausted ? (
        <img
          key={url}
          src={url ?? undefined}
          alt={alt}
          loading={loading}
          decoding="async"
          draggable={false}
          ref={(img) => {
            // Already decoded from cache before the listener could see it.
            if (img && img.complete && img.naturalWidth > 0 && state === "loading") queueMicrotask(() => settle("loaded"));
          }}
          onLoad={() => settle("loaded")}
          onError={() => settle("failed")}
        />
      ) : null}
      {src && exhausted ? (
        <span class="picture__missing" role="img" aria-label={alt}>
          {t("image.unavailable")}
        </span>
      ) : null}
    </div>
  );
}
