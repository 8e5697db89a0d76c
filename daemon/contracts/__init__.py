"""Every SANDBOX CHOICE of the service specs (AM-Cnn, AU-Cnn), shared by clients and sandbox.

A value the public documentation does not fix lives here, tagged with its id, so that a
corrected fact changes one module (spec/amazon-music.md §0, "swap rule").
"""
