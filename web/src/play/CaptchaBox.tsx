import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "../api";
import { mountCaptcha, type Captcha, type CaptchaConfig, type CaptchaState } from "../captcha";
import { useI18n } from "../i18n";

interface Props {
  config: CaptchaConfig;
  /** Receives the mounted captcha (or null when off or failed to load). */
  onReady: (captcha: Captcha | null) => void;
  onState: (state: CaptchaState) => void;
}

/** Hosts the provider's widget; re-mounted when the language changes. Says so when it
 * cannot load. */
export function CaptchaBox({ config, onReady, onState }: Props) {
  const { lang, t } = useI18n();
  const container = useRef<HTMLDivElement>(null);
  const [broken, setBroken] = useState(false);
  useEffect(() => {
    let captcha: Captcha | null = null;
    let cancelled = false;
    if (!container.current) return undefined;
    mountCaptcha({ container: container.current, config, lang, onState }).then(
      (mounted) => {
        if (cancelled) {
          mounted?.destroy();
          return;
        }
        captcha = mounted;
        onReady(mounted);
      },
      () => {
        if (!cancelled) setBroken(true);
      },
    );
    return () => {
      cancelled = true;
      captcha?.destroy();
      onReady(null);
    };
  }, [config.provider, config.siteKey, config.challengeUrl, lang]);
  return (
    <>
      <div class="captcha">
        <span class="captcha__label">{t("captcha.label")}</span>
        <div class="captcha__widget" ref={container} />
      </div>
      {broken ? <p class="note note--error">{t("captcha.unavailable")}</p> : null}
    </>
  );
}

/** A form's captcha: the props for its {@link CaptchaBox}, and a token for each try. */
export function useCaptcha() {
  const widget = useRef<Captcha | null>(null);
  const [state, setState] = useState<CaptchaState>("idle");
  return {
    state,
    box: {
      onReady: (mounted: Captcha | null) => {
        widget.current = mounted;
      },
      onState: setState,
    },
    /** Whether a widget is mounted, so a try needs a token. */
    needed: () => widget.current != null,
    /** A token for one try; a failed check resets the widget and throws CAPTCHA_INVALID. */
    async solve(): Promise<string | null> {
      const mounted = widget.current;
      if (!mounted) return null;
      try {
        return await mounted.solve();
      } catch {
        mounted.reset();
        throw new ApiError("CAPTCHA_INVALID", "captcha failed");
      }
    },
    /** A token is good for one try: after each, the widget starts afresh. */
    reset: () => widget.current?.reset(),
  };
}
