// What the homeserver publishes about a user's keys (POST /keys/query), asked as that user
// through the appservice, so the answer includes the user's own user-signing key.
import type { AppserviceClient } from '../session/appservice-client.ts';
import type { PublishedCrossSigningKey } from './cross-signing-keys.ts';

export interface DeviceKeys {
  user_id: string;
  device_id: string;
  algorithms: string[];
  keys: Record<string, string>;
  signatures?: Record<string, Record<string, string>>;
  unsigned?: Record<string, unknown>;
}

export interface PublishedKeys {
  master?: PublishedCrossSigningKey;
  selfSigning?: PublishedCrossSigningKey;
  userSigning?: PublishedCrossSigningKey;
  /** Device keys by device id (only the devices asked for). */
  devices: Record<string, DeviceKeys>;
}

interface KeysQueryResponse {
  failures?: Record<string, unknown>;
  device_keys?: Record<string, Record<string, DeviceKeys>>;
  master_keys?: Record<string, PublishedCrossSigningKey>;
  self_signing_keys?: Record<string, PublishedCrossSigningKey>;
  user_signing_keys?: Record<string, PublishedCrossSigningKey>;
}

/** The user's published cross-signing keys and the keys of `deviceIds` (all devices when empty). */
export async function queryOwnKeys(client: AppserviceClient, userId: string, deviceIds: string[] = []): Promise<PublishedKeys> {
  const response = await client.request<KeysQueryResponse>(`querying the keys of ${userId}`, 'POST', '/_matrix/client/v3/keys/query', userId, {
    device_keys: { [userId]: deviceIds },
  });
  return {
    master: response.master_keys?.[userId],
    selfSigning: response.self_signing_keys?.[userId],
    userSigning: response.user_signing_keys?.[userId],
    devices: response.device_keys?.[userId] ?? {},
  };
}

/** The single ed25519 public key of a published cross-signing key, if it has exactly one. */
export const publicKeyOf = (key: PublishedCrossSigningKey | undefined): string | undefined => {
  const values = Object.entries(key?.keys ?? {}).filter(([id]) => id.startsWith('ed25519:'));
  return values.length === 1 ? values[0]![1] : undefined;
};
