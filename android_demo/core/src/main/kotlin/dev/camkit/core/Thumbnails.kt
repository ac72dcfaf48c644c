package dev.camkit.core

/** A split's thumbnails (toolkit/fullres.py `mosaic`, `thumbnail`), HWC float32 in [0, 1]. */
object Thumbnails {
    /** The thumbnail [entry] describes, of [photo]. */
    fun make(photo: Image, entry: ThumbnailEntry, channels: Int = 3): FloatImage = when (entry.resize) {
        "mosaic" -> mosaic(photo, entry.height, entry.width,
            entry.cells ?: throw CamkitException("thumbnail '${entry.input}' is a mosaic without 'cells'; re-export"),
            channels)
        "adaptive_average" -> adaptiveAverage(photo, entry.height, entry.width, channels)
        else -> throw CamkitException(
            "thumbnail rule '${entry.resize}' of '${entry.input}' is not one this app knows (mosaic, adaptive_average); update the app")
    }

    /**
     * [cells] x [cells] crops of (height / cells) x (width / cells) photo pixels at full scale;
     * crop (i, j) has top = clamp(floor((2i + 1) H / (2 cells)) - ch / 2, 0, H - ch) (left
     * likewise) and goes to rows i ch.., columns j cw..; a photo smaller than the thumbnail
     * gets [adaptiveAverage] instead.
     */
    fun mosaic(photo: Image, height: Int, width: Int, cells: Int, channels: Int = 3): FloatImage {
        if (photo.height < height || photo.width < width) return adaptiveAverage(photo, height, width, channels)
        val ch = height / cells
        val cw = width / cells
        val out = FloatArray(height * width * channels)
        for (i in 0 until cells) {
            val top = minOf(maxOf(0, (2 * i + 1) * photo.height / (2 * cells) - ch / 2), photo.height - ch)
            for (j in 0 until cells) {
                val left = minOf(maxOf(0, (2 * j + 1) * photo.width / (2 * cells) - cw / 2), photo.width - cw)
                val crop = Tiling.cropReflected(photo, top, left, ch, cw, channels).data
                for (y in 0 until ch) {
                    System.arraycopy(crop, y * cw * channels, out, ((i * ch + y) * width + j * cw) * channels, cw * channels)
                }
            }
        }
        return FloatImage(height, width, channels, out)
    }

    /** Adaptive average pooling (torch's bins): output row i averages photo rows
     * floor(i H / h) .. ceil((i + 1) H / h) - 1, columns likewise, rows first, of x / 255. */
    fun adaptiveAverage(photo: Image, height: Int, width: Int, channels: Int = 3): FloatImage {
        val (sh, sw, c) = Triple(photo.height, photo.width, channels)
        val src = IntArray(sh * sw * c) { photo.channel(it / c / sw, it / c % sw, it % c) }
        val rows = FloatArray(height * sw * c)
        for (i in 0 until height) {
            val a = i * sh / height
            val b = ((i + 1) * sh + height - 1) / height
            for (k in 0 until sw * c) {
                var sum = 0f
                for (y in a until b) sum += src[y * sw * c + k].toFloat()
                rows[i * sw * c + k] = sum / (b - a) / 255f
            }
        }
        val out = FloatArray(height * width * c)
        for (j in 0 until width) {
            val a = j * sw / width
            val b = ((j + 1) * sw + width - 1) / width
            for (i in 0 until height) for (ch in 0 until c) {
                var sum = 0f
                for (x in a until b) sum += rows[(i * sw + x) * c + ch]
                out[(i * width + j) * c + ch] = sum / (b - a)
            }
        }
        return FloatImage(height, width, c, out)
    }
}
