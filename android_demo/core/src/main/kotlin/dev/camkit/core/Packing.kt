package dev.camkit.core

/**
 * Pixels to tensors and back, by the manifest's tensor description: NCHW or NHWC, float32
 * (`x / 255` in float32) or uint8 (`clip(round_half_even(float32(x / 255) / scale) +
 * zero_point, 0, 255)`: the byte itself for scale 1/255, zero point 0). Back: a uint8 value
 * is dequantized (`(q - zero_point) * scale`, float32), then `floor(clip(v, 0, 1) * 255 + 0.5)`.
 * Never min-max normalised: a value past [0, 1] clamps. 3 channels are RGB; a 1-channel
 * tensor takes the red channel (a gray photo's) and gives a gray image. Alpha is dropped and
 * comes back opaque.
 */
object Packing {
    /** The photo [image] as the tensor [io] takes (its size must match a fixed [io] size). */
    fun pack(image: Image, io: TensorIo): Tensor {
        requirePixels(io)
        return packFloats(toFloatImage(image, io.channels), io)
    }

    /** The tensor [tensor] (described by [io]) as pixels. */
    fun unpack(tensor: Tensor, io: TensorIo): Image {
        requirePixels(io)
        return toImage(unpackFloats(tensor, io))
    }

    /** [image] as float32 HWC values x / 255 with [channels] 3 (RGB) or 1 (red). */
    fun toFloatImage(image: Image, channels: Int = 3): FloatImage {
        ensure(channels == 1 || channels == 3) { "the app packs photos into 1 or 3 channels, not $channels" }
        val data = FloatArray(image.width * image.height * channels)
        var k = 0
        for (p in image.argb) {
            data[k++] = ((p shr 16) and 0xFF).toFloat() / 255f
            if (channels == 3) {
                data[k++] = ((p shr 8) and 0xFF).toFloat() / 255f
                data[k++] = (p and 0xFF).toFloat() / 255f
            }
        }
        return FloatImage(image.height, image.width, channels, data)
    }

    /** HWC float [values] as the tensor [io] takes: its layout, its dtype (quantized). */
    fun packFloats(values: FloatImage, io: TensorIo): Tensor {
        val (h, w, c) = Triple(values.height, values.width, values.channels)
        ensure(c == io.channels && (io.height < 0 || io.height == h) && (io.width < 0 || io.width == w)) {
            "tensor '${io.name}' takes ${dims(io)}, got ${h}x${w}x$c"
        }
        val shape = if (io.layout == "nchw") intArrayOf(1, c, h, w) else intArrayOf(1, h, w, c)
        val src = values.data
        if (io.dtype == "float32") {
            if (io.layout == "nhwc") return Tensor(shape, floats = src.copyOf())
            val out = FloatArray(src.size)
            for (i in 0 until h * w) for (ch in 0 until c) out[ch * h * w + i] = src[i * c + ch]
            return Tensor(shape, floats = out)
        }
        val q = io.quantization!!
        val out = ByteArray(src.size)
        for (i in 0 until h * w) for (ch in 0 until c) {
            val at = if (io.layout == "nchw") ch * h * w + i else i * c + ch
            out[at] = quantize(src[i * c + ch], q).toByte()
        }
        return Tensor(shape, bytes = out)
    }

    /** The tensor [tensor] of [io] as HWC float values (uint8 dequantized), not clamped. */
    fun unpackFloats(tensor: Tensor, io: TensorIo): FloatImage {
        val s = tensor.shape
        ensure(s.size == 4 && s[0] == 1) { "tensor '${io.name}' came back with shape ${s.toList()}; expected ${io.shape}" }
        val (c, h, w) = if (io.layout == "nchw") Triple(s[1], s[2], s[3]) else Triple(s[3], s[1], s[2])
        ensure(io.channels < 0 || c == io.channels) { "tensor '${io.name}' came back with $c channels; expected ${io.channels}" }
        ensure(tensor.floats != null || io.quantization != null) {
            "tensor '${io.name}' came back as uint8 but the manifest says ${io.dtype} without a quantization"
        }
        val values = tensor.toFloats(io.quantization)
        if (io.layout == "nhwc") return FloatImage(h, w, c, values)
        val out = FloatArray(values.size)
        for (i in 0 until h * w) for (ch in 0 until c) out[i * c + ch] = values[ch * h * w + i]
        return FloatImage(h, w, c, out)
    }

    /** HWC float values (3 channels RGB, 1 gray) as opaque pixels: floor(clip(v, 0, 1) * 255 + 0.5). */
    fun toImage(values: FloatImage): Image {
        val c = values.channels
        ensure(c == 1 || c == 3) { "an image has 1 or 3 channels, the tensor has $c" }
        val d = values.data
        val argb = IntArray(values.height * values.width) { i ->
            val r = toByte(d[i * c])
            val g = if (c == 3) toByte(d[i * c + 1]) else r
            val b = if (c == 3) toByte(d[i * c + 2]) else r
            (0xFF shl 24) or (r shl 16) or (g shl 8) or b
        }
        return Image(values.width, values.height, argb)
    }

    /** A value in [0, 1] as a pixel byte: floor(clip(v, 0, 1) * 255 + 0.5), in float32. */
    fun toByte(value: Float): Int = (minOf(maxOf(value, 0f), 1f) * 255f + 0.5f).toInt()

    /** A float32 value as uint8 by [q]: clip(round_half_even(value / scale) + zero_point, 0, 255). */
    fun quantize(value: Float, q: Quantization): Int {
        val stored = Math.rint((value / q.scale.toFloat()).toDouble()) + q.zeroPoint
        return stored.coerceIn(0.0, 255.0).toInt()
    }

    /** Float32 values (a sample's input) as [io] takes them: quantized when [io] is uint8. */
    fun toDtype(values: Tensor, io: TensorIo): Tensor {
        if (io.dtype == values.dtype) return values
        ensure(values.floats != null) { "tensor '${io.name}' is uint8 where the manifest says ${io.dtype}" }
        val q = io.quantization!!
        val f = values.floats!!
        return Tensor(values.shape, bytes = ByteArray(f.size) { quantize(f[it], q).toByte() })
    }

    private fun requirePixels(io: TensorIo) {
        val range = io.valueRange
        ensure(range == null || (range.size == 2 && range[0] == 0.0 && range[1] == 1.0)) {
            "tensor '${io.name}' takes values in $range; the app maps pixels to [0, 1] only"
        }
        ensure(io.channels == 1 || io.channels == 3) { "tensor '${io.name}' has ${io.channels} channels; pixels have 1 or 3" }
    }

    private fun dims(io: TensorIo): String =
        "${if (io.height < 0) "?" else io.height}x${if (io.width < 0) "?" else io.width}x${io.channels}"
}
