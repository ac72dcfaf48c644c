package dev.camkit.core

import java.io.ByteArrayInputStream
import java.io.File
import java.io.InputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.zip.ZipException
import java.util.zip.ZipInputStream

/**
 * numpy's .npz (a zip of .npy files, entries stored or deflated: `np.savez` and
 * `np.savez_compressed`, zip64 headers included) and .npy 1.0 / 2.0 / 3.0, C order, of
 * little-endian float32 (`<f4`) or uint8 (`|u1`); anything else is refused in one line.
 */
object Npz {
    /** The arrays of the .npz [file], by key (the entry name without `.npy`). */
    fun read(file: File): Map<String, Tensor> {
        ensure(file.isFile) { "no .npz at ${file.path}; push the sample with 'camkit app push'" }
        return file.inputStream().buffered().use { read(it, file.name) }
    }

    /** The arrays of an .npz held in [bytes]. */
    fun read(bytes: ByteArray): Map<String, Tensor> = read(ByteArrayInputStream(bytes), "npz")

    private fun read(input: InputStream, where: String): Map<String, Tensor> {
        val out = LinkedHashMap<String, Tensor>()
        try {
            ZipInputStream(input).use { zip ->
                while (true) {
                    val entry = zip.nextEntry ?: break
                    if (entry.isDirectory) continue
                    val name = entry.name
                    ensure(name.endsWith(".npy")) { "$where holds '$name', not an .npy; write it with numpy" }
                    out[name.removeSuffix(".npy")] = readNpy(zip.readBytes(), "$where:$name")
                }
            }
        } catch (e: ZipException) {
            throw CamkitException("$where is not a readable .npz (${Json.firstLine(e.message)}); push it again")
        }
        ensure(out.isNotEmpty()) { "$where holds no arrays (not an .npz?); push it again" }
        return out
    }

    /** One .npy file's bytes as a tensor. */
    fun readNpy(bytes: ByteArray, where: String = "npy"): Tensor {
        val magic = byteArrayOf(0x93.toByte(), 'N'.code.toByte(), 'U'.code.toByte(), 'M'.code.toByte(),
            'P'.code.toByte(), 'Y'.code.toByte())
        ensure(bytes.size >= 10 && magic.indices.all { bytes[it] == magic[it] }) { "$where is not an .npy file" }
        val buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
        val major = bytes[6].toInt()
        val (headerLength, start) = when (major) {
            1 -> (buffer.getShort(8).toInt() and 0xFFFF) to 10
            2, 3 -> buffer.getInt(8) to 12
            else -> throw CamkitException("$where is .npy version $major; the app reads versions 1 to 3")
        }
        ensure(start + headerLength <= bytes.size) { "$where is truncated" }
        val header = String(bytes, start, headerLength, Charsets.UTF_8)
        val descr = Regex("""'descr'\s*:\s*'([^']*)'""").find(header)?.groupValues?.get(1)
            ?: throw CamkitException("$where has no dtype in its header")
        ensure(!Regex("""'fortran_order'\s*:\s*True""").containsMatchIn(header)) {
            "$where is in Fortran order; write it C-contiguous (np.ascontiguousarray)"
        }
        val shapeText = Regex("""'shape'\s*:\s*\(([^)]*)\)""").find(header)?.groupValues?.get(1)
            ?: throw CamkitException("$where has no shape in its header")
        val shape = shapeText.split(',').map { it.trim() }.filter { it.isNotEmpty() }.map { it.toInt() }.toIntArray()
        val count = shape.fold(1L) { a, d -> a * d }
        ensure(count <= Int.MAX_VALUE) { "$where holds $count values, more than one array can" }
        val data = start + headerLength
        return when (descr) {
            "<f4" -> {
                ensure(data + 4 * count <= bytes.size) { "$where is truncated" }
                val floats = FloatArray(count.toInt())
                ByteBuffer.wrap(bytes, data, 4 * count.toInt()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(floats)
                Tensor(shape, floats = floats)
            }
            "|u1", "<u1", "u1" -> {
                ensure(data + count <= bytes.size) { "$where is truncated" }
                Tensor(shape, bytes = bytes.copyOfRange(data, data + count.toInt()))
            }
            else -> throw CamkitException(
                "$where holds dtype '$descr'; the app reads little-endian float32 ('<f4') and uint8 ('|u1')")
        }
    }
}
