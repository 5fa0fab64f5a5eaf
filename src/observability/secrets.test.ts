import { describe, expect, it } from 'vitest';
import { registeredSecretCount, registerSecret, scrubSecrets, withSecretScope } from './secrets.ts';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('secret scopes', () => {
  it("forgets a session's secrets when it ends, however deep in its awaits they were registered", async () => {
    const before = registeredSecretCount();
    for (let session = 0; session < 100; session++) {
      await withSecretScope(async () => {
        await tick();
        registerSecret(`session-${session}-access-token`);
        await Promise.resolve().then(() => registerSecret(`session-${session}-sfu-jwt-value`));
        expect(scrubSecrets(`Bearer session-${session}-access-token`)).toBe('Bearer [REDACTED]');
      });
    }
    expect(registeredSecretCount()).toBe(before);
    expect(scrubSecrets('session-3-access-token')).toBe('session-3-access-token');
  });

  it('keeps a secret that something outside the scope holds too, and scopes running at once apart', async () => {
    registerSecret('the-appservice-token');
    let releaseA!: () => void;
    const a = withSecretScope(async () => {
      registerSecret('the-appservice-token');
      registerSecret('only-in-session-a');
      await new Promise<void>((r) => (releaseA = r));
    });
    await withSecretScope(async () => registerSecret('only-in-session-b'));
    expect(scrubSecrets('only-in-session-b')).toBe('only-in-session-b');
    expect(scrubSecrets('only-in-session-a')).toBe('[REDACTED]');
    releaseA();
    await a;
    expect(scrubSecrets('only-in-session-a the-appservice-token')).toBe('only-in-session-a [REDACTED]');
  });
});
