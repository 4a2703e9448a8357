import { useEffect, useRef } from "preact/hooks";
import { mountCaptcha, type Captcha, type CaptchaConfig, type CaptchaState } from "../captcha";
import { useI18n } from "../i18n";

interface Props {
  config: CaptchaConfig;
  /** Receives the mounted captcha (or null when off or failed to load). */
  onReady: (captcha: Captcha | null) => void;
  onState: (state: CaptchaState) => void;
  onLoadError: () => void;
}

/** Hosts the provider's widget; re-mounted when the language changes. */
export function CaptchaBox({ config, onReady, onState, onLoadError }: Props) {
  const { lang, t } = useI18n();
  const container = useRef<HTMLDivElement>(null);
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
        if (!cancelled) onLoadError();
      },
    );
    return () => {
      cancelled = true;
      captcha?.destroy();
      onReady(null);
    };
  }, [config.provider, config.siteKey, config.challengeUrl, lang]);
  return (
    <div class="captcha">
      <span class="captcha__label">{t("captcha.label")}</span>
      <div class="captcha__widget" ref={container} />
    </div>
  );
}
