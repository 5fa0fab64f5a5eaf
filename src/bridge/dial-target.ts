// What `!dial` accepts: a SIP URI (`sip:user@host[:port]`) or a phone number (digits, an optional
// leading +, spaces and dashes allowed while typing), which goes through the configured trunk.

export type DialTarget = { kind: 'uri'; uri: string; user: string; host: string } | { kind: 'number'; number: string };

const SIP_URI = /^sips?:([A-Za-z0-9._~+!$&'()*,;=%-]+)@([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::(\d{1,5}))?$/;
const NUMBER = /^\+?[0-9][0-9 -]{2,24}$/;

export function parseDialTarget(text: string): DialTarget | { problem: string } {
  const uri = SIP_URI.exec(text);
  if (uri) {
    const port = uri[3] ? Number(uri[3]) : undefined;
    if (port !== undefined && (port < 1 || port > 65535)) return { problem: `port ${port} is out of range` };
    return { kind: 'uri', uri: text, user: uri[1]!, host: uri[2]! };
  }
  if (NUMBER.test(text)) {
    const number = text.replace(/[ -]/g, '');
    if (number.replace('+', '').length < 3 || number.length > 16) return { problem: 'a phone number has 3 to 15 digits' };
    return { kind: 'number', number };
  }
  return { problem: 'give a SIP address such as sip:alice@pbx.example.org or a phone number such as +4930123456' };
}

export function dialTargetProblem(text: string): string | undefined {
  const parsed = parseDialTarget(text);
  return 'problem' in parsed ? parsed.problem : undefined;
}
