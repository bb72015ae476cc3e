"""Image sources behind one protocol: a local folder, DICOMweb, and DIMSE (C-FIND/C-GET/C-MOVE).

``base.ImageSource`` is the protocol; import the implementation you need
(``local.LocalFolderSource``, ``dicomweb.DicomWebSource``, ``dimse.DimseSource``)
so that, for example, using a folder does not import the network stacks.
"""
