"""A simulated ESP32 serial bootloader on a pseudo-terminal, for flashing tests without a board.

This is a simulation, used because no board is attached where the tests run. It speaks the ROM loader's
serial protocol as Espressif documents it (docs.espressif.com, "Serial Protocol"): SLIP framing; SYNC; READ_REG
(the chip-detect magic register, eFuses read as zero) and WRITE_REG; SPI_ATTACH and SPI_SET_PARAMS; the SPI
peripheral's user commands esptool drives through registers (JEDEC ID, SFDP, status, reset); FLASH_BEGIN /
FLASH_DATA / FLASH_END and the compressed FLASH_DEFL_*; SPI_FLASH_MD5; CHANGE_BAUDRATE; and MEM_BEGIN /
MEM_DATA / MEM_END, after which it behaves as esptool's flasher stub does (greets with "OHAI", two status bytes,
raw MD5). It does not execute the stub's code: it answers as the stub's protocol says. A 4 MB flash image
(erased to 0xFF) is kept in memory.

Misbehaviours, for the error paths: "silent" (never answers), "noise" (answers SYNC, then every command with a SLIP
frame that has a reply header and nothing after it), "esp32s3" (answers as an ESP32-S3),
"corrupt" (flips a byte of the second data block written: the MD5 check fails), "hangup" (the line drops after
`hangup_after` data blocks).
"""

from __future__ import annotations

import hashlib
import os
import pty
import struct
import threading
import tty
import zlib

FLASH_SIZE = 4 * 1024 * 1024
ESP32_MAGIC = 0x00F01D83
ESP32S3_CHIP_ID = 9
JEDEC_ID = 0x1640EF  # Winbond, 4 MB (manufacturer 0xEF, type 0x40, capacity 0x16)
SPI_REG_BASE = 0x3FF42000  # ESP32 SPI1
SPI_CMD_USR = 1 << 18
SPI_USR2_OFFS, SPI_W0_OFFS, SPI_ADDR_OFFS = 0x24, 0x80, 0x04

OPS = {
    "FLASH_BEGIN": 0x02,
    "FLASH_DATA": 0x03,
    "FLASH_END": 0x04,
    "MEM_BEGIN": 0x05,
    "MEM_END": 0x06,
    "MEM_DATA": 0x07,
    "SYNC": 0x08,
    "WRITE_REG": 0x09,
    "READ_REG": 0x0A,
    "SPI_SET_PARAMS": 0x0B,
    "SPI_ATTACH": 0x0D,
    "CHANGE_BAUDRATE": 0x0F,
    "FLASH_DEFL_BEGIN": 0x10,
    "FLASH_DEFL_DATA": 0x11,
    "FLASH_DEFL_END": 0x12,
    "SPI_FLASH_MD5": 0x13,
    "GET_SECURITY_INFO": 0x14,
}
INVALID_COMMAND = 0x05


def slip(packet: bytes) -> bytes:
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class SimulatedEsp32:
    def __init__(self, misbehave: str = "", hangup_after: int = 3) -> None:
        self.flash = bytearray(b"\xff" * FLASH_SIZE)
        self.misbehave = misbehave
        self.hangup_after = hangup_after
        self.stub = False
        self.registers: dict[int, int] = {}
        self.commands: list[str] = []  # names of the commands received, in order
        self.blocks_written = 0
        self.baud_changes: list[int] = []
        self._write: dict | None = None
        self.master, self._slave = pty.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True, name="esp32-sim")

    def __enter__(self) -> "SimulatedEsp32":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._thread.join(timeout=2)

    # --- transport --------------------------------------------------------------------
    def _serve(self) -> None:
        buffer, in_packet, escaped = bytearray(), False, False
        while not self._stop:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            for byte in data:
                if byte == 0xC0:  # a delimiter ends a packet (if any) and starts the next
                    if buffer:
                        self._handle(bytes(buffer))
                    buffer, in_packet, escaped = bytearray(), True, False
                elif in_packet:
                    if escaped:
                        buffer.append({0xDC: 0xC0, 0xDD: 0xDB}.get(byte, byte))
                        escaped = False
                    elif byte == 0xDB:
                        escaped = True
                    else:
                        buffer.append(byte)

    def _send(self, packet: bytes) -> None:
        try:
            os.write(self.master, slip(packet))
        except OSError:
            pass

    def _reply(self, op: int, value: int = 0, data: bytes = b"", error: int = 0) -> None:
        status = bytes([1 if error else 0, error]) + (b"" if self.stub else b"\x00\x00")
        body = data + status
        self._send(struct.pack("<BBHI", 1, op, len(body), value) + body)

    # --- commands ---------------------------------------------------------------------------
    def _handle(self, packet: bytes) -> None:
        if len(packet) < 8 or packet[0] != 0:
            return
        _, op, size, _checksum = struct.unpack("<BBHI", packet[:8])
        data = packet[8 : 8 + size]
        name = next((k for k, v in OPS.items() if v == op), f"0x{op:02x}")
        self.commands.append(name)
        if self.misbehave == "silent":
            return
        if self.misbehave == "noise" and name != "SYNC":  # well-formed SLIP frames that say nothing
            self._send(struct.pack("<BBHI", 1, op, 0, 0))
            return
        handler = getattr(self, f"_op_{name.lower()}", None)
        if handler is None:
            self._reply(op, error=INVALID_COMMAND)
            return
        handler(op, data)

    def _op_sync(self, op: int, data: bytes) -> None:
        for _ in range(8):  # the ROM answers a SYNC eight times; esptool reads them all
            self._reply(op, value=0 if self.stub else 0x20120707)

    def _op_get_security_info(self, op: int, data: bytes) -> None:
        if self.misbehave == "esp32s3":
            self._reply(op, data=struct.pack("<IBBBBBBBBII", 0, 0, 0, 0, 0, 0, 0, 0, 0, ESP32S3_CHIP_ID, 0))
        else:
            self._reply(op, error=INVALID_COMMAND)  # the ESP32's ROM does not know it

    def _op_read_reg(self, op: int, data: bytes) -> None:
        (address,) = struct.unpack("<I", data[:4])
        if address == 0x40001000:
            value = ESP32_MAGIC
        else:
            value = self.registers.get(address, 0)  # eFuses and the rest read as zero
        self._reply(op, value=value)

    def _op_write_reg(self, op: int, data: bytes) -> None:
        address, value, mask, _delay = struct.unpack("<IIII", data[:16])
        self.registers[address] = (self.registers.get(address, 0) & ~mask) | (value & mask)
        if address == SPI_REG_BASE and value & SPI_CMD_USR:
            self._spi_user_command()
        self._reply(op)

    def _spi_user_command(self) -> None:
        """Run the SPI flash command esptool set up in the SPI registers; the busy bit clears at once."""
        command = self.registers.get(SPI_REG_BASE + SPI_USR2_OFFS, 0) & 0xFFFF
        address = self.registers.get(SPI_REG_BASE + SPI_ADDR_OFFS, 0) >> 8
        result = 0
        if command == 0x9F:  # RDID
            result = JEDEC_ID
        elif command == 0x5A:  # SFDP: the signature at 0, a non-XMC manufacturer after it
            result = 0x50444653 if address == 0 else 0xEF
        self.registers[SPI_REG_BASE + SPI_W0_OFFS] = result
        self.registers[SPI_REG_BASE] = 0

    def _op_spi_attach(self, op: int, data: bytes) -> None:
        self._reply(op)

    def _op_spi_set_params(self, op: int, data: bytes) -> None:
        self._reply(op)

    def _op_change_baudrate(self, op: int, data: bytes) -> None:
        self.baud_changes.append(struct.unpack("<I", data[:4])[0])
        self._reply(op)

    def _op_mem_begin(self, op: int, data: bytes) -> None:
        self._reply(op)

    def _op_mem_data(self, op: int, data: bytes) -> None:
        self._reply(op)

    def _op_mem_end(self, op: int, data: bytes) -> None:
        _no_entry, entry = struct.unpack("<II", data[:8])
        self._reply(op)
        if entry:  # the stub starts and greets; from here on the stub's protocol
            self.stub = True
            self._send(b"OHAI")

    def _begin(self, op: int, data: bytes, compressed: bool) -> None:
        erase_size, _blocks, block_size, offset = struct.unpack("<IIII", data[:16])
        if offset + erase_size > FLASH_SIZE:
            self._reply(op, error=0x06)
            return
        if not compressed:
            self.flash[offset : offset + erase_size] = b"\xff" * erase_size
        self._write = {
            "offset": offset,
            "position": offset,
            "block": block_size,
            "erase": erase_size,
            "inflate": zlib.decompressobj() if compressed else None,
        }
        self._reply(op)

    def _op_flash_begin(self, op: int, data: bytes) -> None:
        self._begin(op, data, compressed=False)

    def _op_flash_defl_begin(self, op: int, data: bytes) -> None:
        self._begin(op, data, compressed=True)

    def _data(self, op: int, data: bytes) -> None:
        if self._write is None:
            self._reply(op, error=0x07)
            return
        size, seq, _, _ = struct.unpack("<IIII", data[:16])
        payload = data[16 : 16 + size]
        if self._write["inflate"] is not None:
            payload = self._write["inflate"].decompress(payload)
        else:
            payload = payload[: self._write["block"]]
        self.blocks_written += 1
        if self.misbehave == "corrupt" and self.blocks_written == 2 and payload:
            payload = bytes([payload[0] ^ 0xFF]) + payload[1:]
        position = self._write["position"]
        self.flash[position : position + len(payload)] = payload
        self._write["position"] = position + len(payload)
        if self.misbehave == "hangup" and self.blocks_written >= self.hangup_after:
            self._stop = True
            os.close(self.master)  # the line drops: the host sees the port go away mid-write
            return
        self._reply(op)

    def _op_flash_data(self, op: int, data: bytes) -> None:
        self._data(op, data)

    def _op_flash_defl_data(self, op: int, data: bytes) -> None:
        self._data(op, data)

    def _op_flash_end(self, op: int, data: bytes) -> None:
        self._reply(op)

    def _op_flash_defl_end(self, op: int, data: bytes) -> None:
        self._reply(op)

    def _op_spi_flash_md5(self, op: int, data: bytes) -> None:
        address, size, _, _ = struct.unpack("<IIII", data[:16])
        digest = hashlib.md5(bytes(self.flash[address : address + size]))
        self._reply(op, data=digest.digest() if self.stub else digest.hexdigest().encode())
