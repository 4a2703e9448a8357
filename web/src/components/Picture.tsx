import { useEffect, useState } from "preact/hooks";
import { useI18n } from "../i18n";

const RETRY_DELAYS_MS = [1_000, 3_000, 8_000];

interface Props {
  src: string | null | undefined;
  alt: string;
  class?: string;
  /** Decode hint: "eager" for the picture a page is about. */
  loading?: "eager" | "lazy";
}

/**
 * An image that never becomes a grey blank square: it shows a shimmer while
 * loading, retries a few times after an error (flaky Wi-Fi), then says so.
 */
export function Picture({ src, alt, class: className = "", loading = "lazy" }: Props) {
  const { t } = useI18n();
  const [attempt, setAttempt] = useState(0);
  const [state, setState] = useState<"loading" | "loaded" | "failed">("loading");

  useEffect(() => {
    setAttempt(0);
    setState("loading");
  }, [src]);

  useEffect(() => {
    if (state !== "failed" || attempt >= RETRY_DELAYS_MS.length) return undefined;
    const timer = setTimeout(() => {
      setAttempt((n) => n + 1);
      setState("loading");
    }, RETRY_DELAYS_MS[attempt]);
    return () => clearTimeout(timer);
  }, [state, attempt]);

  const exhausted = state === "failed" && attempt >= RETRY_DELAYS_MS.length;
  const url = src && attempt > 0 ? `${src}${src.includes("?") ? "&" : "?"}retry=${attempt}` : src;

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
          onLoad={() => setState("loaded")}
          onError={() => setState("failed")}
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
