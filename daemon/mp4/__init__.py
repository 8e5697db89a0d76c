"""Sans-IO ISO-BMFF: box reader/writer, CENC decryption and encryption, pssh, sidx.

Bytes in, values out; no asyncio, no files. See daemon.mp4.cenc for the CENC API.
"""
