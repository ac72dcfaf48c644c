import Foundation

/// A split's thumbnails (toolkit/fullres.py `mosaic`, `thumbnail`), HWC float32 in [0, 1].
public enum Thumbnails {
    /// The thumbnail `entry` describes, of `photo`.
    public static func make(_ photo: Image, _ entry: ThumbnailEntry, channels: Int = 3) throws -> FloatImage {
        switch entry.resize {
        case "mosaic":
            guard let cells = entry.cells else {
                throw CamkitError("thumbnail '\(entry.input)' is a mosaic without 'cells'; re-export")
            }
            return try mosaic(photo, entry.height, entry.width, cells: cells, channels: channels)
        case "adaptive_average":
            return try adaptiveAverage(photo, entry.height, entry.width, channels: channels)
        default:
            throw CamkitError("thumbnail rule '\(entry.resize)' of '\(entry.input)' is not one this app knows (mosaic, adaptive_average); update the app")
        }
    }

    /// `cells` x `cells` crops of (height / cells) x (width / cells) photo pixels at full scale;
    /// crop (i, j) has top = clamp(floor((2i + 1) H / (2 cells)) - ch / 2, 0, H - ch) (left
    /// likewise) and goes to rows i ch.., columns j cw..; a photo smaller than the thumbnail
    /// gets ``adaptiveAverage(_:_:_:channels:)`` instead.
    public static func mosaic(_ photo: Image, _ height: Int, _ width: Int, cells: Int, channels: Int = 3) throws -> FloatImage {
        if photo.height < height || photo.width < width {
            return try adaptiveAverage(photo, height, width, channels: channels)
        }
        try ensure(cells > 0, "a mosaic needs at least one cell, got \(cells); re-export")
        let ch = height / cells
        let cw = width / cells
        var out = [Float](repeating: 0, count: height * width * channels)
        for i in 0..<cells {
            let top = min(max(0, (2 * i + 1) * photo.height / (2 * cells) - ch / 2), photo.height - ch)
            for j in 0..<cells {
                let left = min(max(0, (2 * j + 1) * photo.width / (2 * cells) - cw / 2), photo.width - cw)
                let crop = try Tiling.cropReflected(photo, top: top, left: left, height: ch, width: cw, channels: channels).data
                for y in 0..<ch {
                    let to = ((i * ch + y) * width + j * cw) * channels
                    for k in 0..<cw * channels { out[to + k] = crop[y * cw * channels + k] }
                }
            }
        }
        return try FloatImage(height: height, width: width, channels: channels, data: out)
    }

    /// Adaptive average pooling (torch's bins): output row i averages photo rows
    /// floor(i H / h) ... ceil((i + 1) H / h) - 1, columns likewise, rows first, of x / 255;
    /// float32 sums in order, as numpy sums along a non-contiguous axis.
    public static func adaptiveAverage(_ photo: Image, _ height: Int, _ width: Int, channels: Int = 3) throws -> FloatImage {
        let (sh, sw, c) = (photo.height, photo.width, channels)
        var rows = [Float](repeating: 0, count: height * sw * c)
        for i in 0..<height {
            let a = i * sh / height
            let b = ((i + 1) * sh + height - 1) / height
            for x in 0..<sw {
                for ch in 0..<c {
                    var sum: Float = 0
                    for y in a..<b { sum += Float(photo.channel(y, x, ch)) }
                    rows[(i * sw + x) * c + ch] = sum / Float(b - a) / 255
                }
            }
        }
        var out = [Float](repeating: 0, count: height * width * c)
        for j in 0..<width {
            let a = j * sw / width
            let b = ((j + 1) * sw + width - 1) / width
            for i in 0..<height {
                for ch in 0..<c {
                    var sum: Float = 0
                    for x in a..<b { sum += rows[(i * sw + x) * c + ch] }
                    out[(i * width + j) * c + ch] = sum / Float(b - a)
                }
            }
        }
        return try FloatImage(height: height, width: width, channels: c, data: out)
    }
}
