// UIKit / CoreGraphics on iOS: UIGraphicsImageRenderer (orientation), CGContext over an RGBA8
// sRGB bitmap (premultipliedLast), CGImage(width:height:...provider:...) back.
import CamkitCore
import CoreGraphics
import UIKit

/// Photos to CamkitCore's RGBA pixels and back.
enum ImageConversion {
    /// `image` upright (its EXIF orientation applied), as 8-bit sRGB RGBA pixels at full
    /// resolution: a Display P3 or HDR photo is converted to sRGB, what the models were trained on.
    static func pixels(_ image: UIImage) throws -> CamkitCore.Image {
        guard let cg = upright(image) else { throw CamkitError("the photo has no bitmap the app can read") }
        let (width, height) = (cg.width, cg.height)
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let drawn = rgba.withUnsafeMutableBytes { raw -> Bool in
            guard let space = CGColorSpace(name: CGColorSpace.sRGB),
                  let context = CGContext(data: raw.baseAddress, width: width, height: height, bitsPerComponent: 8,
                                          bytesPerRow: width * 4, space: space,
                                          bitmapInfo: CGImageAlphaInfo.premultipliedLast.rawValue) else { return false }
            context.draw(cg, in: CGRect(x: 0, y: 0, width: width, height: height))
            return true
        }
        guard drawn else { throw CamkitError("the photo could not be drawn into an RGBA bitmap") }
        return try CamkitCore.Image(width: width, height: height, rgba: rgba)
    }

    /// Opaque pixels as a `UIImage` (scale 1: one point a pixel).
    static func uiImage(_ image: CamkitCore.Image) -> UIImage? {
        guard let space = CGColorSpace(name: CGColorSpace.sRGB),
              let provider = CGDataProvider(data: Data(image.rgba) as CFData),
              let cg = CGImage(width: image.width, height: image.height, bitsPerComponent: 8, bitsPerPixel: 32,
                               bytesPerRow: image.width * 4, space: space,
                               bitmapInfo: CGBitmapInfo(rawValue: CGImageAlphaInfo.noneSkipLast.rawValue),
                               provider: provider, decode: nil, shouldInterpolate: true, intent: .defaultIntent)
        else { return nil }
        return UIImage(cgImage: cg)
    }

    /// The bitmap of `image` with its orientation applied, at its pixel size.
    private static func upright(_ image: UIImage) -> CGImage? {
        if image.imageOrientation == .up, let cg = image.cgImage { return cg }
        let format = UIGraphicsImageRendererFormat()
        format.scale = 1
        format.opaque = true
        format.preferredRange = .standard
        let size = CGSize(width: image.size.width * image.scale, height: image.size.height * image.scale)
        return UIGraphicsImageRenderer(size: size, format: format).image { _ in
            image.draw(in: CGRect(origin: .zero, size: size))
        }.cgImage
    }
}
