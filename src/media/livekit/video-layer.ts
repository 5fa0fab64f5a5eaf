// Which simulcast layer of a camera the SFU sends: the one its tile in the recorded grid needs,
// not the largest. A camera's layers are e.g. 1280x720, 640x360 and 320x180; in a grid of 9 at
// 1280x720 a tile is 426x240, so the 640x360 layer shows it as well as the 720p one, for a quarter
// of the packets to decrypt and pixels to decode, copy out of rtc-node and scale.
//
// rtc-node 1.1.0's RemoteTrackPublication offers only setSubscribed, though its FFI carries
// UpdateRemoteTrackPublicationDimension (LiveKit's UpdateTrackSettings width/height: the SFU then
// forwards the smallest layer the publisher declared whose height is at least 90 % of the asked
// one). This sends that request through the FFI client rtc-node itself uses (participant-keys.ts).
// It can only pick among the publisher's layers: a browser's 640x360 camera has a 320x180 layer,
// an rtc-node one below 960 px has two of its own size (scripts/simulcast-layers.ts shows it).
import { FfiRequest, UpdateRemoteTrackPublicationDimensionRequest } from '@livekit/rtc-ffi-bindings';
import type { RemoteTrackPublication } from '@livekit/rtc-node';
import { ffiClient } from './participant-keys.ts';
import { gridLayout } from '../video/grid.ts';
import type { Size } from '../video/i420.ts';

export type { Size } from '../video/i420.ts';

/**
 * The size of one tile when `tiles` pictures share `canvas` in a near-square grid (grid.ts's, whose
 * cells are never smaller than layout.ts's 16:9 tiles). Only a hint to the SFU: a layer at least
 * this large is sent.
 */
export function tileSize(tiles: number, canvas: Size): Size {
  if (!Number.isInteger(tiles) || tiles < 1) throw new Error(`a grid has at least one tile, not ${tiles}`);
  const { width, height } = gridLayout(tiles, canvas)[0]!;
  return { width, height };
}

/** Asks the SFU for the layer of `publication` that covers `size`. */
export function requestVideoSize(publication: RemoteTrackPublication, size: Size): void {
  const handle = (publication as unknown as { ffiHandle?: { handle: bigint } }).ffiHandle?.handle;
  if (handle === undefined) throw new Error(`video track ${publication.sid ?? '(no sid)'} has no FFI handle to ask for a layer with`);
  ffiClient().request(
    new FfiRequest({
      message: {
        case: 'updateRemoteTrackPublicationDimension',
        value: new UpdateRemoteTrackPublicationDimensionRequest({ trackPublicationHandle: handle, width: size.width, height: size.height }),
      },
    }),
  );
}
