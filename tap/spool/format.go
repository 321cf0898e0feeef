package spool

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"
)

// On-disk format, little endian throughout.
//
// A segment starts with a header:
//
//	[0:8)   magic "CIOSPOOL"
//	[8:12)  format version (1)
//	[12:20) first offset the segment may hold (also its file name)
//	[20:24) CRC32C of bytes [0:20)
//
// followed by frames, one per record:
//
//	[0:4)   n, the length of the payload that follows the 8-byte frame header
//	[4:8)   CRC32C of bytes [0:4) and of the payload, so a damaged length is caught too
//	payload:
//	[0:8)   offset
//	[8:16)  receive time, Unix nanoseconds
//	[16]    token id length t
//	[17:17+t) token id
//	[17+t:n)  body
//
// A frame is valid only when its checksum matches, its offset lies in (previous offset,
// maxOffset] and the token fits. An all-zero region is never valid (n would be 0).
const (
	segmentMagic   = "CIOSPOOL"
	segmentVersion = 1
	headerSize     = 24

	frameHeaderSize = 8
	minPayload      = 17
	maxTokenIDBytes = 255
	// MaxBodyBytes is the largest body Append stores. The receiver's own limit (8 MiB by
	// default) is far below it; the bound keeps a damaged length from asking for gigabytes.
	MaxBodyBytes = 256 << 20
	maxPayload   = minPayload + maxTokenIDBytes + MaxBodyBytes
	// maxOffset keeps next-offset arithmetic far from overflow even when recovery meets a
	// forged frame.
	maxOffset = 1 << 62

	segmentSuffix = ".seg"
	tmpSuffix     = ".tmp"
	corruptSuffix = ".corrupt"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segmentName is the file name of the segment whose first offset is first. Fixed width keeps
// lexical and numeric order the same for people listing the directory.
func segmentName(first uint64) string {
	return fmt.Sprintf("%020d%s", first, segmentSuffix)
}

// parseSegmentName returns the first offset encoded in a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	first, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || first == 0 || first > maxOffset {
		return 0, false
	}
	return first, true
}

func appendHeader(dst []byte, first uint64) []byte {
	start := len(dst)
	dst = append(dst, segmentMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, segmentVersion)
	dst = binary.LittleEndian.AppendUint64(dst, first)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// checkHeader returns a reason when b (at least headerSize bytes) is not the header of the
// segment starting at first, or "" when it is.
func checkHeader(b []byte, first uint64) string {
	switch {
	case string(b[:8]) != segmentMagic:
		return "bad segment magic"
	case crc32.Checksum(b[:20], castagnoli) != binary.LittleEndian.Uint32(b[20:24]):
		return "segment header checksum mismatch"
	case binary.LittleEndian.Uint32(b[8:12]) != segmentVersion:
		return fmt.Sprintf("unsupported segment version %d", binary.LittleEndian.Uint32(b[8:12]))
	case binary.LittleEndian.Uint64(b[12:20]) != first:
		return "segment header does not match its file name"
	}
	return ""
}

// frameSize is the number of bytes a record takes on disk.
func frameSize(tokenLen, bodyLen int) int64 {
	return int64(frameHeaderSize + minPayload + tokenLen + bodyLen)
}

// appendFrame encodes one record onto dst. The caller has checked the token and body sizes.
func appendFrame(dst []byte, off uint64, at time.Time, tokenID string, body []byte) []byte {
	start := len(dst)
	n := minPayload + len(tokenID) + len(body)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	dst = append(dst, 0, 0, 0, 0) // checksum, filled in below
	dst = binary.LittleEndian.AppendUint64(dst, off)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(at.UnixNano()))
	dst = append(dst, byte(len(tokenID)))
	dst = append(dst, tokenID...)
	dst = append(dst, body...)
	crc := crc32.Update(crc32.Checksum(dst[start:start+4], castagnoli), castagnoli, dst[start+frameHeaderSize:])
	binary.LittleEndian.PutUint32(dst[start+4:start+8], crc)
	return dst
}

// frame is a decoded record whose token and body alias the buffer it was decoded from.
type frame struct {
	off   uint64
	at    int64
	token []byte
	body  []byte
}

// payloadLen returns the payload length announced by a frame header, or a reason it is
// impossible.
func payloadLen(hdr []byte) (int, string) {
	n := binary.LittleEndian.Uint32(hdr[:4])
	if n < minPayload || n > maxPayload {
		return 0, fmt.Sprintf("impossible frame length %d", n)
	}
	return int(n), ""
}

// decodeFrame checks and decodes a whole frame (header and payload). prev is the offset of the
// previous record (or the segment's first offset minus one). It returns a reason on failure.
func decodeFrame(b []byte, prev uint64) (frame, string) {
	payload := b[frameHeaderSize:]
	want := binary.LittleEndian.Uint32(b[4:8])
	if crc32.Update(crc32.Checksum(b[:4], castagnoli), castagnoli, payload) != want {
		return frame{}, "checksum mismatch"
	}
	f := frame{
		off: binary.LittleEndian.Uint64(payload[0:8]),
		at:  int64(binary.LittleEndian.Uint64(payload[8:16])),
	}
	if f.off <= prev || f.off > maxOffset {
		return frame{}, fmt.Sprintf("offset %d out of order after %d", f.off, prev)
	}
	t := int(payload[16])
	if minPayload+t > len(payload) {
		return frame{}, "token id overruns frame"
	}
	f.token = payload[minPayload : minPayload+t]
	f.body = payload[minPayload+t:]
	return f, ""
}
