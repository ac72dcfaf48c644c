package dev.camkit.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.ImageDecoder
import android.graphics.Matrix
import android.net.Uri
import dev.camkit.core.Image

/** ARGB pixels for :core (Bitmap.getPixels: non-premultiplied 0xAARRGGBB, row by row). */
fun Bitmap.toImage(): Image {
    val source = if (config == Bitmap.Config.ARGB_8888) this else copy(Bitmap.Config.ARGB_8888, false)
    val pixels = IntArray(source.width * source.height)
    source.getPixels(pixels, 0, source.width, 0, 0, source.width, source.height)
    return Image(source.width, source.height, pixels)
}

/** :core's pixels as a Bitmap (setPixels semantics: non-premultiplied ARGB). */
fun Image.toBitmap(): Bitmap {
    val bitmap = Bitmap.createBitmap(width, height, Bitmap.Config.ARGB_8888)
    bitmap.setPixels(argb, 0, width, 0, 0, width, height)
    return bitmap
}

/** A picked photo at full resolution, EXIF rotation applied (ImageDecoder does), in software
 * memory so its pixels can be read. */
fun decodePhoto(context: Context, uri: Uri): Bitmap {
    val source = ImageDecoder.createSource(context.contentResolver, uri)
    return ImageDecoder.decodeBitmap(source) { decoder, _, _ ->
        decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
        decoder.isMutableRequired = false
    }
}

/** A camera frame turned upright ([degrees] from ImageInfo.getRotationDegrees). */
fun Bitmap.rotated(degrees: Int): Bitmap {
    if (degrees % 360 == 0) return this
    val matrix = Matrix().apply { postRotate(degrees.toFloat()) }
    return Bitmap.createBitmap(this, 0, 0, width, height, matrix, true)
}
