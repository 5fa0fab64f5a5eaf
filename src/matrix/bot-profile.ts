// The profile people see for the bot and its call user: a display name that says what it does
// and a recording-dot avatar. The avatar is uploaded only where a user has none, so an
// operator's own choice stays.
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { MatrixApiError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { matrixRequest } from '../rtc/http.ts';

const AVATAR = new URL('./assets/bot-avatar.png', import.meta.url);

interface Profile {
  displayname?: string;
  avatar_url?: string;
}

export async function ensureBotProfile(
  opts: { homeserverUrl: string; asToken: string; userId: string; displayName: string },
  log: Logger,
): Promise<void> {
  const base = opts.homeserverUrl.replace(/\/+$/, '');
  const as = (path: string) => `${base}${path}${path.includes('?') ? '&' : '?'}user_id=${encodeURIComponent(opts.userId)}`;
  const profilePath = `/_matrix/client/v3/profile/${encodeURIComponent(opts.userId)}`;
  const profile = await matrixRequest<Profile>(`reading the profile of ${opts.userId}`, as(profilePath), { accessToken: opts.asToken }).catch((err: unknown) => {
    // A user without a profile row yet: setting a field creates it.
    if (err instanceof MatrixApiError && err.errcode === 'M_NOT_FOUND') return {} as Profile;
    throw err;
  });
  if (profile.displayname !== opts.displayName) {
    await matrixRequest(`setting the display name of ${opts.userId}`, as(`${profilePath}/displayname`), {
      method: 'PUT',
      accessToken: opts.asToken,
      body: { displayname: opts.displayName },
    });
    log.info({ userId: opts.userId, displayName: opts.displayName }, 'display name set');
  }
  if (profile.avatar_url) return;
  const png = readFileSync(AVATAR);
  const { content_uri } = await matrixRequest<{ content_uri: string }>('uploading the bot avatar', as('/_matrix/media/v3/upload?filename=avatar.png'), {
    method: 'POST',
    accessToken: opts.asToken,
    rawBody: { body: Readable.toWeb(Readable.from([png])) as ReadableStream, contentType: 'image/png', length: png.length },
  });
  await matrixRequest(`setting the avatar of ${opts.userId}`, as(`${profilePath}/avatar_url`), {
    method: 'PUT',
    accessToken: opts.asToken,
    body: { avatar_url: content_uri },
  });
  log.info({ userId: opts.userId }, 'avatar set');
}
