// The SIP half of the audio bridge: one endpoint, legs with 48 kHz mono frames in and out.
export { SipEndpoint, SipCallError, type SipEndpointConfig, type SipTrunkConfig, type InviteInfo, type InviteDecision, type DialOptions, type RegistrationState } from './sip-endpoint.ts';
export { SipLeg, type SipParty, type LegEnd } from './sip-leg.ts';
export { FRAME_SAMPLES, SEND_QUEUE_FRAMES } from './rtp-stream.ts';
export type { CodecName } from './codecs.ts';
