// Which SIP peers may reach the endpoint: source addresses (CIDRs) and caller users.
import net from 'node:net';

export class SourceFilter {
  private readonly list: net.BlockList | undefined;

  /** `allowed`: addresses or CIDRs ("10.0.0.0/8", "::1"); undefined lets every source through. */
  constructor(allowed: string[] | undefined) {
    if (!allowed) return;
    this.list = new net.BlockList();
    for (const entry of allowed) {
      const [address, prefix] = entry.split('/');
      const type = net.isIPv6(address ?? '') ? 'ipv6' : net.isIPv4(address ?? '') ? 'ipv4' : undefined;
      if (!type) throw new Error(`allowed source ${JSON.stringify(entry)} is not an IP address or CIDR`);
      if (prefix === undefined) this.list.addAddress(address!, type);
      else {
        const bits = Number(prefix);
        if (!Number.isInteger(bits) || bits < 0 || bits > (type === 'ipv4' ? 32 : 128)) throw new Error(`allowed source ${JSON.stringify(entry)} has a bad prefix length`);
        this.list.addSubnet(address!, bits, type);
      }
    }
  }

  allows(address: string): boolean {
    if (!this.list) return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    const plain = mapped ?? address;
    return this.list.check(plain, net.isIPv6(plain) ? 'ipv6' : 'ipv4');
  }
}

/** Matches a caller's From URI against allowed users ("alice" matches any host, "alice@pbx.example" only that host). */
export function userAllowed(allowed: string[] | undefined, user: string | undefined, host: string | undefined): boolean {
  if (!allowed) return true;
  if (!user) return false;
  return allowed.some((a) => (a.includes('@') ? a.toLowerCase() === `${user}@${host ?? ''}`.toLowerCase() : a === user));
}
