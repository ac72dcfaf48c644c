package dev.camkit.core

import kotlin.math.abs
import kotlin.math.ceil

/**
 * Resizing float images as Pillow resizes mode "F" images (what toolkit/fullres.py `_resize`
 * uses for the lossy "resize" plan): separable, horizontal pass first, float64 weights and
 * sums, float32 between passes; "area" is Pillow's BOX filter, "bicubic" its BICUBIC (a = -0.5).
 */
object Resample {
    /** [src] resized to [height] x [width] by [method] ("area" or "bicubic"). */
    fun resize(src: FloatImage, height: Int, width: Int, method: String): FloatImage {
        val filter: (Double) -> Double
        val support: Double
        when (method) {
            "area" -> { filter = ::box; support = 0.5 }
            "bicubic" -> { filter = ::bicubic; support = 2.0 }
            else -> throw CamkitException("resize method '$method' is not one this app knows (area, bicubic); update the app")
        }
        var img = src
        if (width != src.width) img = pass(img, width, horizontal = true, filter, support)
        if (height != src.height) img = pass(img, height, horizontal = false, filter, support)
        return img
    }

    private fun box(x: Double): Double = if (x > -0.5 && x <= 0.5) 1.0 else 0.0

    private fun bicubic(x0: Double): Double {
        val a = -0.5
        val x = abs(x0)
        return when {
            x < 1.0 -> ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
            x < 2.0 -> (((x - 5.0) * x + 8.0) * x - 4.0) * a
            else -> 0.0
        }
    }

    private class Coefficients(val start: IntArray, val count: IntArray, val weights: Array<DoubleArray>)

    private fun coefficients(inSize: Int, outSize: Int, filter: (Double) -> Double, support0: Double): Coefficients {
        val scale = inSize.toDouble() / outSize
        val filterScale = maxOf(scale, 1.0)
        val support = support0 * filterScale
        val start = IntArray(outSize)
        val count = IntArray(outSize)
        val weights = Array(outSize) { DoubleArray(ceil(support).toInt() * 2 + 1) }
        for (o in 0 until outSize) {
            val center = (o + 0.5) * scale
            val ss = 1.0 / filterScale
            val lo = maxOf((center - support + 0.5).toInt(), 0)
            val hi = minOf((center + support + 0.5).toInt(), inSize)
            var total = 0.0
            for (k in 0 until hi - lo) {
                val w = filter((k + lo - center + 0.5) * ss)
                weights[o][k] = w
                total += w
            }
            if (total != 0.0) for (k in 0 until hi - lo) weights[o][k] /= total
            start[o] = lo
            count[o] = hi - lo
        }
        return Coefficients(start, count, weights)
    }

    private fun pass(src: FloatImage, size: Int, horizontal: Boolean, filter: (Double) -> Double, support: Double): FloatImage {
        val c = src.channels
        val (h, w) = if (horizontal) src.height to size else size to src.width
        val k = coefficients(if (horizontal) src.width else src.height, size, filter, support)
        val out = FloatArray(h * w * c)
        for (y in 0 until h) for (x in 0 until w) for (ch in 0 until c) {
            val o = if (horizontal) x else y
            var sum = 0.0
            for (i in 0 until k.count[o]) {
                val at = if (horizontal) (y * src.width + k.start[o] + i) * c + ch else ((k.start[o] + i) * src.width + x) * c + ch
                sum += src.data[at] * k.weights[o][i]
            }
            out[(y * w + x) * c + ch] = sum.toFloat()
        }
        return FloatImage(h, w, c, out)
    }
}
