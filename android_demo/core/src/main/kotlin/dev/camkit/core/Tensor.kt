package dev.camkit.core

/**
 * A dense tensor as a runtime takes and returns it: [shape] (row-major) and exactly one of
 * [floats] (float32) or [bytes] (uint8, read unsigned 0..255).
 */
class Tensor(val shape: IntArray, val floats: FloatArray? = null, val bytes: ByteArray? = null) {
    init {
        ensure((floats == null) != (bytes == null)) { "a tensor holds floats or bytes, not both or none" }
        ensure(shape.all { it >= 0 }) { "tensor shape ${shape.toList()} has a negative dimension" }
        ensure(shape.fold(1L) { a, d -> a * d } == size.toLong()) {
            "tensor shape ${shape.toList()} holds ${shape.fold(1L) { a, d -> a * d }} values, got $size"
        }
    }

    /** "float32" or "uint8". */
    val dtype: String get() = if (floats != null) "float32" else "uint8"

    /** The number of values. */
    val size: Int get() = floats?.size ?: bytes!!.size

    /** Value [i] as a float: the float itself, or the unsigned byte (not dequantized). */
    fun raw(i: Int): Float = floats?.get(i) ?: (bytes!![i].toInt() and 0xFF).toFloat()

    /** All values as float32: floats as they are, bytes dequantized by [quantization]
     * (`(q - zero_point) * scale` in float32; none: the byte value). */
    fun toFloats(quantization: Quantization?): FloatArray {
        floats?.let { return it }
        val b = bytes!!
        if (quantization == null) return FloatArray(b.size) { (b[it].toInt() and 0xFF).toFloat() }
        val scale = quantization.scale.toFloat()
        val zero = quantization.zeroPoint.toFloat()
        return FloatArray(b.size) { ((b[it].toInt() and 0xFF).toFloat() - zero) * scale }
    }

    override fun toString(): String = "Tensor($dtype ${shape.toList()})"
}

/** Pixels as Android's Bitmap holds them: [argb] row by row, `0xAARRGGBB`. */
class Image(val width: Int, val height: Int, val argb: IntArray) {
    init {
        ensure(width > 0 && height > 0 && argb.size == width * height) {
            "an image of ${width}x$height needs ${width.toLong() * height} pixels, got ${argb.size}"
        }
    }

    /** Channel [c] (0 red, 1 green, 2 blue) of pixel ([y], [x]), 0..255. */
    fun channel(y: Int, x: Int, c: Int): Int = (argb[y * width + x] shr (16 - 8 * c)) and 0xFF
}

/** A float image, height x width x channels, channels last (HWC): tiles, outputs, thumbnails. */
class FloatImage(val height: Int, val width: Int, val channels: Int, val data: FloatArray) {
    init {
        ensure(data.size == height * width * channels) {
            "a ${height}x${width}x$channels float image needs ${height * width * channels} values, got ${data.size}"
        }
    }
}
