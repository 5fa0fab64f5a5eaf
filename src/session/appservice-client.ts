// Client-server calls made with the appservice token on behalf of a namespaced user (the
// `user_id` query parameter), used by workers that do not run the appservice listener.
import { matrixRequest } from '../rtc/http.ts';

export class AppserviceClient {
  readonly #homeserverUrl: string;
  readonly #asToken: string;

  constructor(homeserverUrl: string, asToken: string) {
    this.#homeserverUrl = homeserverUrl.replace(/\/+$/, '');
    this.#asToken = asToken;
  }

  request<T>(what: string, method: string, path: string, asUser: string, body?: unknown): Promise<T> {
    const separator = path.includes('?') ? '&' : '?';
    return matrixRequest<T>(what, `${this.#homeserverUrl}${path}${separator}user_id=${encodeURIComponent(asUser)}`, {
      method,
      accessToken: this.#asToken,
      body,
    });
  }
}

export const roomPath = (roomId: string, rest: string) => `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/${rest}`;
