// A fresh Matrix device for each call session, obtained with the appservice token
// (m.login.application_service) and deleted at the end (logout).
import { randomBytes } from 'node:crypto';
import { registerSecret } from '../observability/secrets.ts';
import { matrixRequest } from './http.ts';

export interface SessionDevice {
  userId: string;
  deviceId: string;
  accessToken: string;
}

export async function loginSessionDevice(homeserverUrl: string, asToken: string, userId: string, displayName: string): Promise<SessionDevice> {
  const deviceId = `MRR${randomBytes(5).toString('hex').toUpperCase()}`;
  const login = await matrixRequest<{ user_id: string; device_id: string; access_token: string }>(
    'logging in a session device',
    `${homeserverUrl}/_matrix/client/v3/login`,
    {
      method: 'POST',
      accessToken: asToken,
      body: {
        type: 'm.login.application_service',
        identifier: { type: 'm.id.user', user: userId },
        device_id: deviceId,
        initial_device_display_name: displayName,
      },
    },
  );
  registerSecret(login.access_token);
  return { userId: login.user_id, deviceId: login.device_id, accessToken: login.access_token };
}

/** Logs the device out, which deletes it with its keys. */
export async function logoutSessionDevice(homeserverUrl: string, device: SessionDevice): Promise<void> {
  await matrixRequest('logging out the session device', `${homeserverUrl}/_matrix/client/v3/logout`, {
    method: 'POST',
    accessToken: device.accessToken,
    body: {},
  });
}
